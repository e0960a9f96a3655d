package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.e2e.TestFiles.TestFile;
import dev.pollen.e2e.registry.Commands;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
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

    private final List<String> containers = new ArrayList<>();
    private Path outputs;

    @BeforeAll
    static void loadImage() {
        Podman.loadImage();
        file = origin.createFile("image.bin", 24 * MiB, 7);
    }

    @AfterEach
    void removeContainers() {
        for (String name : containers) {
            Podman.run("rm", "-f", name);
        }
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

    /** An agent container on the host's network (as hostNetwork) with its own free ports, detached. */
    private String startAgent(Path sockets) throws IOException {
        String name = "pollen-e2e-" + UUID.randomUUID().toString().substring(0, 8);
        containers.add(name);
        podman("run", "-d", "--name", name, "--network", "host", "-v", sockets + ":/run/pollen",
                // dfget's output is written by the daemon, so the directory is at the same path on both sides, as a
                // pod that runs dfget shares a hostPath with the agent.
                "-v", outputs + ":" + outputs, Podman.IMAGE,
                "--download.server.socketPath=/run/pollen/dfdaemon.sock", "--storage.dir=/tmp/storage",
                "--upload.server.port=" + freePort(), "--storage.server.tcpPort=" + freePort(), "--metrics.server.port=0",
                "--health.server.port=0");
        return name;
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

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
