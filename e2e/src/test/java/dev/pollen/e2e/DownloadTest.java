package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.e2e.TestFiles.TestFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Downloads from a real nginx through a real dfdaemon with real dfget processes. */
class DownloadTest {
    /** The daemon's piece length for files up to 2000 MiB (content length / 500, at least 4 MiB). */
    private static final long PIECE = 4 * MiB;
    private static final long PROBE = 1;

    @RegisterExtension
    static final Nginx origin = new Nginx().location(Nginx.rateLimited("/slow/", "4m"));

    @RegisterExtension
    static final Daemons daemons = new Daemons();

    private static DaemonProcess daemon;

    @TempDir
    Path out;

    @BeforeAll
    static void startDaemon() {
        daemon = daemons.start();
    }

    @Test
    void downloadsAFileFetchingEachByteFromTheOriginOnce() {
        TestFile file = origin.createFile("once.bin", 16 * MiB, 11);
        Path output = out.resolve("once.bin");

        Dfget.Result result = daemon.dfget().download(origin.url("/once.bin"), output);

        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(TestFiles.sha256(output)).isEqualTo(file.sha256());
        assertThat(origin.bytesSent("/once.bin")).isBetween(file.size(), file.size() + PROBE);
        assertThat(result.stderr()).contains("origin 16.0 MiB, peers 0 B, local cache 0 B");
    }

    @Test
    void servesASecondDownloadOfTheSameUrlFromTheLocalCache() {
        TestFile file = origin.createFile("twice.bin", 8 * MiB, 12);
        Dfget.Result first = daemon.dfget().download(origin.url("/twice.bin"), out.resolve("first.bin"));
        assertThat(first.exitCode()).as(first.toString()).isZero();
        long afterFirst = origin.bytesSent("/twice.bin");

        Dfget.Result second = daemon.dfget().download(origin.url("/twice.bin"), out.resolve("second.bin"));

        assertThat(second.exitCode()).as(second.toString()).isZero();
        assertThat(TestFiles.sha256(out.resolve("second.bin"))).isEqualTo(file.sha256());
        assertThat(origin.bytesSent("/twice.bin") - afterFirst).as("origin bytes for the second download").isZero();
        assertThat(second.stderr()).contains("origin 0 B, peers 0 B, local cache 8.0 MiB");
    }

    @Test
    void fiftyConcurrentDownloadsOfOneUrlShareOneOriginFetch() {
        TestFile file = origin.createFile("fifty.bin", 16 * MiB, 13);
        List<Dfget.Running> running = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            running.add(daemon.dfget().startDownload(origin.url("/fifty.bin"), out.resolve("fifty-" + i + ".bin")));
        }

        List<Dfget.Result> results = running.stream().map(r -> r.await(Duration.ofMinutes(3))).toList();

        for (int i = 0; i < results.size(); i++) {
            assertThat(results.get(i).exitCode()).as(results.get(i).toString()).isZero();
            assertThat(TestFiles.sha256(out.resolve("fifty-" + i + ".bin"))).as("fifty-%d.bin", i).isEqualTo(file.sha256());
        }
        assertThat(origin.bytesSent("/fifty.bin")).isLessThanOrEqualTo((long) (file.size() * 1.01));
    }

    @Test
    void resumesAfterKill9FetchingOnlyTheMissingPieces() {
        int concurrency = 4;
        TestFile file = origin.createFile("resume.bin", 128 * MiB, 14);
        String uri = "/slow/resume.bin";
        Path output = out.resolve("resume.bin");
        DaemonProcess killed = daemons.start(daemons.newSpec().withFlags("--download.concurrentPieceCount=" + concurrency));
        Dfget.Running interrupted = killed.dfget().startDownload(origin.url(uri), output);
        int piecesBeforeKill = 10;
        await("the origin to send " + piecesBeforeKill + " whole pieces")
                .atMost(Duration.ofSeconds(60))
                .pollInterval(Duration.ofMillis(20))
                .until(() -> wholePieces(uri) >= piecesBeforeKill);

        killed.kill9();

        Dfget.Result cut = interrupted.await(Duration.ofSeconds(30));
        assertThat(cut.exitCode()).as(cut.toString()).isNotZero();
        assertThat(output).as("a download cut short leaves no output file").doesNotExist();
        long firstRun = origin.bytesSent(uri);
        assertThat(firstRun).as("killed mid-download").isLessThan(file.size());
        int wholeBeforeKill = wholePieces(uri);

        DaemonProcess restarted = daemons.start(killed.spec());
        Dfget.Result result = restarted.dfget().download(origin.url(uri), output);

        assertThat(result.exitCode()).as("%s\n%s", result, restarted).isZero();
        assertThat(TestFiles.sha256(output)).isEqualTo(file.sha256());
        long secondRun = origin.bytesSent(uri) - firstRun;
        System.out.printf("[e2e] resume: %d whole pieces before the kill, origin sent %d bytes before and %d after"
                + " the restart, file %d bytes%n", wholeBeforeKill, firstRun, secondRun, file.size());
        // Pieces the origin finished sending were stored, except at most the ones in flight in the daemon.
        assertThat(secondRun).as("origin bytes after the restart")
                .isLessThan(file.size())
                .isLessThanOrEqualTo(file.size() - (wholeBeforeKill - concurrency) * PIECE + PROBE);
        // Lost at most the pieces in flight at the kill.
        assertThat(firstRun + secondRun).as("origin bytes over both runs")
                .isLessThanOrEqualTo(file.size() + concurrency * PIECE + 2 * PROBE);
    }

    @Test
    void acceptsTheRightDigest() {
        TestFile file = origin.createFile("digest.bin", 8 * MiB, 15);
        Path output = out.resolve("digest.bin");

        Dfget.Result result = daemon.dfget().download(origin.url("/digest.bin"), output, "--digest", file.digest());

        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(TestFiles.sha256(output)).isEqualTo(file.sha256());
    }

    @Test
    void rejectsAWrongDigestLeavingNoFileBehind() throws IOException {
        TestFile file = origin.createFile("wrong-digest.bin", 8 * MiB, 16);
        String wrong = "sha256:" + "0".repeat(64);
        String url = origin.url("/wrong-digest.bin");

        Dfget.Result result = daemon.dfget().download(url, out.resolve("wrong-digest.bin"), "--digest", wrong);

        assertThat(result.exitCode()).as(result.toString()).isEqualTo(5);
        assertThat(result.stderr()).contains("digest mismatch for " + url).contains(file.sha256());
        assertThat(list(out)).as("files left in the output directory").isEmpty();
    }

    @Test
    void resolvesARelativeOutputPathAgainstTheWorkingDirectory() throws IOException {
        TestFile file = origin.createFile("relative.bin", 8 * MiB, 17);
        Path workDir = Files.createDirectories(out.resolve("work/sub"));

        Dfget.Result result = daemon.dfget().inDirectory(workDir).download(origin.url("/relative.bin"), "../relative.bin");

        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(TestFiles.sha256(out.resolve("work/relative.bin"))).isEqualTo(file.sha256());
        assertThat(daemon.dir().resolve("relative.bin")).doesNotExist();
    }

    @Test
    void keepsAnExistingOutputUnlessToldToOverwrite() throws IOException {
        TestFile file = origin.createFile("existing.bin", 8 * MiB, 18);
        Path output = out.resolve("existing.bin");
        Files.writeString(output, "precious");
        FileTime longAgo = FileTime.from(Instant.parse("2020-01-02T03:04:05Z"));
        Files.setLastModifiedTime(output, longAgo);

        Dfget.Result refused = daemon.dfget().download(origin.url("/existing.bin"), output);

        assertThat(refused.exitCode()).as(refused.toString()).isEqualTo(7);
        assertThat(refused.stderr()).contains("already exists").contains("--overwrite");
        assertThat(output).hasContent("precious");
        assertThat(Files.getLastModifiedTime(output)).isEqualTo(longAgo);

        Dfget.Result replaced = daemon.dfget().download(origin.url("/existing.bin"), output, "--overwrite");

        assertThat(replaced.exitCode()).as(replaced.toString()).isZero();
        assertThat(TestFiles.sha256(output)).isEqualTo(file.sha256());
        assertThat(list(out)).containsExactly("existing.bin");
    }

    /** Requests for {@code uri} that the origin finished with a whole piece. */
    private static int wholePieces(String uri) {
        return (int) origin.loggedRequests(uri).stream().filter(r -> r.status() == 206 && r.bytes() == PIECE).count();
    }

    private static List<String> list(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
