package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.e2e.TestFiles.TestFile;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Every bad input gets a clear error and an exit code of its own, and the daemon goes on serving. */
class BadInputTest {
    @RegisterExtension
    static final Nginx origin = new Nginx()
            .location(Nginx.status("/forbidden/", 403))
            .location(Nginx.status("/broken/", 500))
            .location(Nginx.rateLimited("/slow/", "1m"));

    @RegisterExtension
    static final Daemons daemons = new Daemons();

    private static DaemonProcess daemon;
    private static TestFile good;

    @TempDir
    Path out;

    @BeforeAll
    static void startDaemon() {
        good = origin.createFile("good.bin", 8 * MiB, 21);
        daemon = daemons.start();
    }

    @Test
    void rejectsAnUnsupportedUrlScheme() {
        Dfget.Result result = daemon.dfget().download("ftp://127.0.0.1/file.bin", out.resolve("file.bin"));

        assertThat(result.exitCode()).as(result.toString()).isEqualTo(2);
        assertThat(result.stderr()).contains("unsupported url scheme");
        assertDaemonStillServes();
    }

    @Test
    void rejectsAMalformedUrl() {
        Dfget.Result result = daemon.dfget().download("http://[127.0.0.1/file.bin", out.resolve("file.bin"));

        assertThat(result.exitCode()).as(result.toString()).isEqualTo(2);
        assertThat(result.stderr()).contains("http://[127.0.0.1/file.bin");
        assertDaemonStillServes();
    }

    @Test
    void rejectsAMalformedDigest() {
        Dfget.Result result = daemon.dfget().download(origin.url("/good.bin"), out.resolve("good.bin"), "--digest", "sha256:xyz");

        assertThat(result.exitCode()).as(result.toString()).isEqualTo(2);
        assertThat(result.stderr()).contains("invalid digest sha256:xyz");
        assertThat(out.resolve("good.bin")).doesNotExist();
        assertDaemonStillServes();
    }

    @Test
    void reportsAnOrigin404NamingTheUrl() {
        String url = origin.url("/missing.bin");

        Dfget.Result result = daemon.dfget().download(url, out.resolve("missing.bin"));

        assertThat(result.exitCode()).as(result.toString()).isEqualTo(4);
        assertThat(result.stderr()).contains("origin answered 404 for " + url);
        assertThat(out.resolve("missing.bin")).doesNotExist();
        assertDaemonStillServes();
    }

    @Test
    void reportsAnOrigin403() {
        String url = origin.url("/forbidden/good.bin");

        Dfget.Result result = daemon.dfget().download(url, out.resolve("forbidden.bin"));

        assertThat(result.exitCode()).as(result.toString()).isEqualTo(4);
        assertThat(result.stderr()).contains("403").contains(url);
        assertDaemonStillServes();
    }

    @Test
    void reportsAnOrigin500AfterRetrying() {
        String url = origin.url("/broken/good.bin");

        Dfget.Result result = daemon.dfget().download(url, out.resolve("broken.bin"));

        assertThat(result.exitCode()).as(result.toString()).isEqualTo(4);
        assertThat(result.stderr()).contains("500").contains(url);
        assertDaemonStillServes();
    }

    @Test
    void reportsAnUnreachableOrigin() throws IOException {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closedPort = s.getLocalPort();
        }
        String url = "http://127.0.0.1:" + closedPort + "/file.bin";

        Dfget.Result result = daemon.dfget().download(url, out.resolve("file.bin"));

        assertThat(result.exitCode()).as(result.toString()).isEqualTo(4);
        assertThat(result.stderr()).contains("cannot connect to origin");
        assertDaemonStillServes();
    }

    @Test
    void givesUpWhenTheTimeoutPasses() {
        origin.createFile("slow.bin", 8 * MiB, 23);

        Dfget.Result result = daemon.dfget().download(origin.url("/slow/slow.bin"), out.resolve("slow.bin"), "--timeout", "1s");

        assertThat(result.exitCode()).as(result.toString()).isEqualTo(6);
        // The daemon enforces the timeout and says so; dfget's own deadline (timeout + 5 s) is only a backstop.
        assertThat(result.stderr()).contains("did not finish within its timeout");
        assertThat(result.took()).isLessThan(Duration.ofSeconds(5));
        assertThat(out.resolve("slow.bin")).doesNotExist();
        assertDaemonStillServes();
    }

    @Test
    void refusesToFetchFromTheOriginWhenBackToSourceIsDisabled() {
        origin.createFile("nobody-has-it.bin", 4 * MiB, 24);
        String url = origin.url("/nobody-has-it.bin");

        Dfget.Result result = daemon.dfget().download(url, out.resolve("file.bin"), "--disable-back-to-source");

        assertThat(result.exitCode()).as(result.toString()).isEqualTo(9);
        assertThat(result.stderr()).contains(url).contains("back-to-source is disabled");
        // At most the one-byte length probe every download starts with (Dragonfly's dfdaemon probes even then:
        // its scheduler needs the length), never the content.
        assertThat(origin.bytesSent("/nobody-has-it.bin")).isLessThanOrEqualTo(1);
        assertDaemonStillServes();
    }

    @Test
    void refusesAnOutputInAMissingDirectory() {
        Path missing = out.resolve("no/such/dir");

        Dfget.Result result = daemon.dfget().download(origin.url("/good.bin"), missing.resolve("good.bin"));

        assertThat(result.exitCode()).as(result.toString()).isEqualTo(7);
        assertThat(result.stderr()).contains("does not exist").contains(missing.toString());
        assertThat(out.resolve("no")).doesNotExist();
        assertDaemonStillServes();
    }

    @Test
    void saysSoWhenNoDaemonListensOnTheSocket() {
        Path socket = out.resolve("nobody.sock");

        Dfget.Result result = new Dfget(socket, out.resolve("logs")).download(origin.url("/good.bin"), out.resolve("good.bin"));

        assertThat(result.exitCode()).as(result.toString()).isEqualTo(3);
        assertThat(result.stderr()).contains("cannot connect to dfdaemon at " + socket);
        assertThat(out.resolve("good.bin")).doesNotExist();
    }

    @Test
    void saysSoWhenTheSocketIsStale() throws IOException {
        Path socket = out.resolve("stale.sock");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(socket));
        }
        assertThat(socket).exists();

        Dfget.Result result = new Dfget(socket, out.resolve("logs")).download(origin.url("/good.bin"), out.resolve("good.bin"));

        assertThat(result.exitCode()).as(result.toString()).isEqualTo(3);
        assertThat(result.stderr()).contains("cannot connect to dfdaemon at " + socket);
    }

    @Test
    void failsCleanlyWhenTheOutputDiskIsFull() throws IOException, InterruptedException {
        TestFile big = origin.createFile("big.bin", 32 * MiB, 22);
        Path small = Files.createDirectories(out.resolve("tmpfs"));
        mount(small);
        try {
            Dfget.Result result = daemon.dfget().download(origin.url("/big.bin"), small.resolve("big.bin"));

            assertThat(result.exitCode()).as(result.toString()).isEqualTo(8);
            assertThat(result.stderr()).containsIgnoringCase("no space");
            assertThat(list(small)).as("files left on the full disk").isEmpty();
            assertDaemonStillServes();
            Dfget.Result elsewhere = daemon.dfget().download(origin.url("/big.bin"), out.resolve("big.bin"));
            assertThat(elsewhere.exitCode()).as(elsewhere.toString()).isZero();
            assertThat(TestFiles.sha256(out.resolve("big.bin"))).isEqualTo(big.sha256());
        } finally {
            exec("umount", small.toString());
        }
    }

    @Test
    void refusesAnInvalidConfigurationNamingTheKey() {
        DaemonProcess.Spec spec = daemons.newSpec().withFlags("--download.concurrentPieceCount=0");

        DaemonProcess refused = daemons.launch(spec);

        assertThat(refused.awaitExit()).as(refused.toString()).isEqualTo(2);
        assertThat(refused.stderr()).contains("download.concurrentPieceCount: 0 (expected: 1..64)");
        assertThat(spec.socket()).doesNotExist();
    }

    @Test
    void refusesAnUnknownConfigurationKeyNamingIt() {
        DaemonProcess.Spec spec = daemons.newSpec().withFlags("--download.concurentPieceCount=4");

        DaemonProcess refused = daemons.launch(spec);

        assertThat(refused.awaitExit()).as(refused.toString()).isEqualTo(2);
        assertThat(refused.stderr()).contains("download.concurentPieceCount");
        assertThat(spec.socket()).doesNotExist();
    }

    private void assertDaemonStillServes() {
        Path output = out.resolve("good-" + UUID.randomUUID() + ".bin");
        Dfget.Result result = daemon.dfget().download(origin.url("/good.bin"), output);
        assertThat(result.exitCode()).as("%s\n%s", result, daemon).isZero();
        assertThat(TestFiles.sha256(output)).isEqualTo(good.sha256());
        assertThat(daemon.isAlive()).isTrue();
    }

    private static void mount(Path dir) throws IOException, InterruptedException {
        exec("mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", dir.toString());
    }

    private static void exec(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(Duration.ofSeconds(10).toSeconds(), java.util.concurrent.TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new AssertionError(String.join(" ", command) + " failed (the e2e tests run as root): " + output);
        }
    }

    private static List<String> list(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).toList();
        }
    }
}
