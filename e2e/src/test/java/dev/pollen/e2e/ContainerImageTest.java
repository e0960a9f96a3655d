package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.e2e.TestFiles.TestFile;
import dev.pollen.e2e.registry.Commands;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The container image as a DaemonSet runs it: the agent as user 65532 in a container whose socket directory is
 * bind-mounted from the host (the chart's hostPath), a dfget on the host downloading through it into a directory
 * the container shares, the container
 * killed with SIGKILL and a new one on the same directory serving again with no manual step, and a second
 * container refused while the first is alive. The image is the one Jib built from image/ on the locally built
 * base (bin/test: image/build-base), loaded into podman.
 */
class ContainerImageTest {

    @RegisterExtension
    static final Nginx origin = new Nginx();

    private static TestFile file;

    @TempDir
    Path dir;

    @RegisterExtension
    final AgentContainers agents = new AgentContainers();

    private Path outputs;

    @BeforeAll
    static void loadImage() {
        Podman.loadImage();
        file = origin.createFile("image.bin", 24 * MiB, 7);
    }

    @Test
    void servesAsNonRootThroughAHostSocketDirectoryAndRecoversAfterSigkill() throws IOException {
        Path sockets = Files.createDirectories(dir.resolve("run"));
        outputs = Files.createDirectories(dir.resolve("out"));
        Commands.check(Podman.TIMEOUT, List.of("chown", "65532:65532", sockets.toString(), outputs.toString()));
        Path socket = sockets.resolve("dfdaemon.sock");

        String first = startAgent(sockets);
        await().atMost(Duration.ofSeconds(60)).until(() -> logs(first).contains("event=ready"));
        assertThat(podman("exec", first, "id", "-u").out().strip()).isEqualTo("65532");
        assertThat(logs(first)).as("one logging configuration, no logback status dump").doesNotContain("|-WARN");
        assertDownloadsThrough(socket, "first.bin");

        podman("kill", "-s", "KILL", first);
        assertThat(socket).as("SIGKILL leaves the socket behind").exists();

        String second = startAgent(sockets);
        await().atMost(Duration.ofSeconds(60)).until(() -> logs(second).contains("event=ready"));
        assertThat(logs(second)).contains("event=stale_socket_recovered");
        assertDownloadsThrough(socket, "second.bin");

        String third = startAgent(sockets);
        await().atMost(Duration.ofSeconds(60)).until(() -> !inspect(third, "{{.State.Running}}").equals("true"));
        assertThat(inspect(third, "{{.State.ExitCode}}")).isEqualTo("10");
        assertThat(logs(third)).contains("another dfdaemon holds the lock /run/pollen/dfdaemon.sock.lock");
        assertThat(inspect(second, "{{.State.Running}}")).as("the live daemon keeps its socket").isEqualTo("true");
        assertDownloadsThrough(socket, "third.bin");
    }

    private void assertDownloadsThrough(Path socket, String name) {
        Path output = outputs.resolve(name);
        Dfget.Result result = new Dfget(socket, dir).download(origin.url("image.bin"), output);
        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(TestFiles.sha256(output)).isEqualTo(file.sha256());
    }

    private String startAgent(Path sockets) {
        return agents.start(Podman.IMAGE, sockets, outputs);
    }

    private static String logs(String name) {
        return Podman.logs(name);
    }

    private static String inspect(String name, String format) {
        return Podman.inspect(name, format);
    }

    private static Commands.Result podman(String... args) {
        return Podman.check(args);
    }
}
