package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.e2e.TestFiles.TestFile;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The socket lifecycle of dfdaemon as a DaemonSet sees it: a daemon killed with SIGKILL leaves its
 * socket behind and the next one must start without help; a live daemon's socket must never be stolen;
 * whatever else sits at the socket path must be left alone.
 */
class SocketRecoveryTest {
    private static final int S_IFMT = 0170000;
    private static final int S_IFSOCK = 0140000;
    private static final FileTime LONG_AGO = FileTime.from(Instant.parse("2020-01-02T03:04:05Z"));

    @RegisterExtension
    static final Nginx origin = new Nginx();

    @RegisterExtension
    final Daemons daemons = new Daemons();

    @TempDir
    Path out;

    private static TestFile file;

    @BeforeAll
    static void createFile() {
        file = origin.createFile("socket.bin", 8 * MiB, 1);
    }

    @Test
    void recoversFromAStaleSocketAfterKill9() {
        DaemonProcess killed = daemons.start();
        killed.kill9();
        assertThat(isSocket(killed.socket())).as("SIGKILL leaves the socket file behind").isTrue();

        DaemonProcess restarted = daemons.start(killed.spec());

        assertThat(restarted.logLines("event=stale_socket_recovered")).as(restarted.toString()).hasSize(1);
        Duration startup = restarted.startupTime();
        System.out.println("[e2e] restart after kill -9: ready " + startup.toMillis() + " ms after launch");
        assertThat(startup).as("from launch to ready").isLessThan(Duration.ofSeconds(2));
        assertServes(restarted);
    }

    @Test
    void refusesToStealTheSocketOfALiveDaemon() {
        DaemonProcess first = daemons.start();
        Dfget.Running during = first.dfget().startDownload(origin.url("/socket.bin"), out.resolve("during.bin"));

        DaemonProcess second = daemons.launch(first.spec()).expectErrors("event=startup_refused");

        assertThat(second.awaitExit()).as(second.toString()).isEqualTo(10);
        assertThat(second.stderr())
                .contains("another dfdaemon holds the lock " + first.lockFile())
                .contains("(pid " + first.pid() + ")");
        assertThat(first.isAlive()).isTrue();
        assertThat(isSocket(first.socket())).isTrue();
        Dfget.Result duringResult = during.await(Dfget.DEFAULT_TIMEOUT);
        assertThat(duringResult.exitCode()).as(duringResult.toString()).isZero();
        assertThat(TestFiles.sha256(out.resolve("during.bin"))).isEqualTo(file.sha256());
        assertServes(first);
    }

    @Test
    void refusesToStealTheSocketOfALiveDaemonWhoseLockFileWasDeleted() throws IOException {
        DaemonProcess first = daemons.start();
        Files.delete(first.lockFile());

        DaemonProcess second = daemons.launch(first.spec()).expectErrors("event=startup_refused");

        assertThat(second.awaitExit()).as(second.toString()).isEqualTo(11);
        assertThat(second.stderr()).contains("another dfdaemon is serving on " + first.socket());
        assertThat(first.isAlive()).isTrue();
        assertThat(isSocket(first.socket())).isTrue();
        assertServes(first);
    }

    @Test
    void leavesARegularFileAtTheSocketPathUntouched() throws IOException {
        DaemonProcess.Spec spec = daemons.newSpec();
        byte[] content = "not a socket, somebody's data\n".getBytes(StandardCharsets.UTF_8);
        Files.write(spec.socket(), content);
        Files.setLastModifiedTime(spec.socket(), LONG_AGO);

        DaemonProcess daemon = daemons.launch(spec).expectErrors("event=startup_refused");

        assertThat(daemon.awaitExit()).as(daemon.toString()).isEqualTo(12);
        assertThat(daemon.stderr()).contains(spec.socket() + " exists and is a regular file, not a socket; refusing to touch it");
        assertThat(Files.readAllBytes(spec.socket())).isEqualTo(content);
        assertThat(Files.getLastModifiedTime(spec.socket(), LinkOption.NOFOLLOW_LINKS)).isEqualTo(LONG_AGO);
    }

    @Test
    void leavesADirectoryAtTheSocketPathUntouched() throws IOException {
        DaemonProcess.Spec spec = daemons.newSpec();
        Files.createDirectory(spec.socket());
        Files.writeString(spec.socket().resolve("keep.txt"), "keep me");
        Files.setLastModifiedTime(spec.socket(), LONG_AGO);

        DaemonProcess daemon = daemons.launch(spec).expectErrors("event=startup_refused");

        assertThat(daemon.awaitExit()).as(daemon.toString()).isEqualTo(12);
        assertThat(daemon.stderr()).contains(spec.socket() + " exists and is a directory, not a socket; refusing to touch it");
        assertThat(spec.socket()).isDirectory();
        try (var entries = Files.list(spec.socket())) {
            assertThat(entries.map(p -> p.getFileName().toString()).toList()).containsExactly("keep.txt");
        }
        assertThat(spec.socket().resolve("keep.txt")).hasContent("keep me");
        assertThat(Files.getLastModifiedTime(spec.socket(), LinkOption.NOFOLLOW_LINKS)).isEqualTo(LONG_AGO);
    }

    @RepeatedTest(3)
    void letsExactlyOneOfTwoDaemonsStartedTogetherServe() {
        DaemonProcess.Spec spec = daemons.newSpec();
        DaemonProcess a = daemons.launch(spec).expectErrors("event=startup_refused");
        DaemonProcess b = daemons.launch(spec).expectErrors("event=startup_refused");

        await("both daemons to be ready or gone")
                .atMost(DaemonProcess.READY_TIMEOUT)
                .pollInterval(Duration.ofMillis(20))
                .until(() -> (a.isReady() || !a.isAlive()) && (b.isReady() || !b.isAlive()));

        List<DaemonProcess> serving = List.of(a, b).stream().filter(d -> d.isAlive() && d.isReady()).toList();
        assertThat(serving).as("%s\n%s", a, b).hasSize(1);
        DaemonProcess winner = serving.get(0);
        DaemonProcess loser = winner == a ? b : a;
        assertThat(loser.awaitExit()).as(loser.toString()).isIn(10, 11);
        assertThat(loser.stderr()).containsAnyOf("another dfdaemon holds the lock", "another dfdaemon is serving on");
        assertThat(loser.isReady()).isFalse();
        assertServes(winner);
    }

    @Test
    void stopsOnSigtermRemovingItsSocketAndReleasingTheLock() throws IOException {
        DaemonProcess daemon = daemons.start();
        assertServes(daemon);

        int exit = daemon.terminate();

        assertThat(exit).as("exit code after SIGTERM (137 would mean it had to be killed)\n%s", daemon).isEqualTo(143);
        assertThat(ProcessHandle.of(daemon.pid()).filter(ProcessHandle::isAlive)).isEmpty();
        assertThat(daemon.logLines("event=stopped")).hasSize(1);
        assertThat(Files.exists(daemon.socket(), LinkOption.NOFOLLOW_LINKS)).as("socket file after SIGTERM").isFalse();
        try (FileChannel channel = FileChannel.open(daemon.lockFile(), StandardOpenOption.WRITE);
             FileLock lock = channel.tryLock()) {
            assertThat(lock).as("the lock on " + daemon.lockFile()).isNotNull();
        }

        DaemonProcess next = daemons.start(daemon.spec());

        assertThat(next.logLines("stale_socket")).isEmpty();
        assertServes(next);
    }

    @Test
    void createsTheSocketWithMode0660() throws IOException {
        DaemonProcess daemon = daemons.start();

        assertThat(isSocket(daemon.socket())).isTrue();
        assertThat(Files.getPosixFilePermissions(daemon.socket(), LinkOption.NOFOLLOW_LINKS))
                .isEqualTo(PosixFilePermissions.fromString("rw-rw----"));
    }

    @Test
    void createsAMissingSocketDirectory() {
        DaemonProcess.Spec spec = daemons.newSpec();
        Path socket = spec.dir().resolve("run/pollen/nested/dfdaemon.sock");
        assertThat(socket.getParent().getParent().getParent()).doesNotExist();

        DaemonProcess daemon = daemons.start(spec.withSocket(socket));

        assertThat(isSocket(socket)).isTrue();
        assertServes(daemon);
    }

    private void assertServes(DaemonProcess daemon) {
        Path output = out.resolve(UUID.randomUUID() + ".bin");
        Dfget.Result result = daemon.dfget().download(origin.url("/socket.bin"), output);
        assertThat(result.exitCode()).as("%s\n%s", result, daemon).isZero();
        assertThat(TestFiles.sha256(output)).isEqualTo(file.sha256());
    }

    private static boolean isSocket(Path path) {
        try {
            int mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
            return (mode & S_IFMT) == S_IFSOCK;
        } catch (IOException e) {
            return false;
        }
    }
}
