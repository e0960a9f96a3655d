package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.e2e.TestFiles.TestFile;
import dev.pollen.proto.dfdaemon.v2.DfdaemonDownloadGrpc;
import dev.pollen.proto.dfdaemon.v2.StatTaskRequest;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * dfget when its daemon dies under it: one line that says what happened and what to do, exit 3, and the same
 * command run again once the daemon is back finishes the download, fetching from the origin only what the
 * dead daemon had not stored. Runs: {@code -Dfaults.runs=N} (default 1).
 */
class DaemonLossTest {
    private static final int RUNS = Integer.getInteger("faults.runs", 1);
    private static final long PIECE = 4 * MiB;
    private static final long SIZE = 96 * MiB;

    /** 2 MiB/s per connection, 8 pieces at a time: 96 MiB take about 6 s, time enough to kill the daemon midway. */
    @RegisterExtension
    static final Nginx origin = new Nginx().location(Nginx.rateLimited("/slow/", "2m"));

    @RegisterExtension
    final Daemons daemons = new Daemons();

    @TempDir
    Path out;

    /** Pieces the daemon reports stored for the task of {@code url} (0 before it knows the task). */
    private static int storedPieces(DaemonProcess daemon, String url) throws Exception {
        String taskId = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                .digest((url + "STANDARD").getBytes(StandardCharsets.UTF_8)));
        try (DaemonChannel c = DaemonChannel.uds(daemon.socket())) {
            return DfdaemonDownloadGrpc.newBlockingStub(c.channel()).withDeadlineAfter(5, TimeUnit.SECONDS)
                    .statTask(StatTaskRequest.newBuilder().setTaskId(taskId).build()).getPiecesCount();
        } catch (StatusRuntimeException e) {
            return 0;
        }
    }

    @Test
    void aDaemonKilledMidDownloadIsNamedAndTheSameCommandResumes() {
        DaemonProcess daemon = daemons.start();
        for (int run = 0; run < RUNS; run++) {
            String name = "lost-" + run + ".bin";
            TestFile file = origin.createFile(name, SIZE, 900 + run);
            String url = origin.url("/slow/" + name);
            Path output = out.resolve(name);

            Dfget.Running first = daemon.dfget().startDownload(url, output);
            // Counted by the daemon itself: nginx logs a piece as sent while it may still sit in socket buffers.
            DaemonProcess dying = daemon;
            await("4 pieces stored").atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(50))
                    .until(() -> storedPieces(dying, url) >= 4);
            daemon.kill9();

            Dfget.Result lost = first.await(Duration.ofSeconds(30));
            assertThat(lost.exitCode()).as(lost.toString()).isEqualTo(3);
            assertThat(lost.stderr().lines()).as(lost.toString()).containsExactly("dfget: the daemon at " + daemon.socket()
                    + " closed the connection mid-download (it stopped or restarted); running the same command again resumes");
            assertThat(output).doesNotExist();
            long sentBefore = origin.bytesSent("/slow/" + name);

            daemon = daemons.start(daemon.spec());
            Dfget.Result again = daemon.dfget().download(url, output);

            assertThat(again.exitCode()).as(again.toString()).isZero();
            assertThat(TestFiles.sha256(output)).isEqualTo(file.sha256());
            long sentAgain = origin.bytesSent("/slow/" + name) - sentBefore;
            System.out.println("[e2e] daemon killed after " + sentBefore / MiB + " MiB of " + SIZE / MiB
                    + " MiB; the re-run fetched " + sentAgain / MiB + " MiB from the origin: " + again.stderr().strip());
            assertThat(sentAgain).as("origin bytes for the re-run: the pieces stored before the kill are kept")
                    .isLessThanOrEqualTo(SIZE - 4 * PIECE + PIECE);
        }
    }
}
