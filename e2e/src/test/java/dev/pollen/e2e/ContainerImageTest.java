package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.github.dockerjava.api.DockerClient;
import dev.pollen.e2e.TestFiles.TestFile;
import dev.pollen.e2e.registry.Commands;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.startupcheck.StartupCheckStrategy;
import org.testcontainers.containers.wait.strategy.Wait;

/**
 * The container image as a DaemonSet runs it: the agent as user 65532 in a container whose socket directory is
 * bind-mounted from the host (the chart's hostPath), a dfget on the host downloading through it into a directory
 * the container shares, the container
 * killed with SIGKILL and a new one on the same directory serving again with no manual step, and a second
 * container refused while the first is alive. The image is the one Jib built from image/ on the locally built
 * base (bin/test: image/build-base), run by Testcontainers on podman.
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
    static void createFile() {
        file = origin.createFile("image.bin", 24 * MiB, 7);
    }

    @Test
    void servesAsNonRootThroughAHostSocketDirectoryAndRecoversAfterSigkill() throws Exception {
        Path sockets = Files.createDirectories(dir.resolve("run"));
        outputs = Files.createDirectories(dir.resolve("out"));
        Commands.check(Podman.TIMEOUT, List.of("chown", "65532:65532", sockets.toString(), outputs.toString()));
        Path socket = sockets.resolve("dfdaemon.sock");

        GenericContainer<?> first = agents.start(agent(sockets));
        assertThat(first.execInContainer("id", "-u").getStdout().strip()).isEqualTo("65532");
        assertThat(first.getLogs()).as("one logging configuration, no logback status dump").doesNotContain("|-WARN");
        assertDownloadsThrough(socket, "first.bin");

        AgentContainers.kill(first);
        await().atMost(Duration.ofSeconds(30)).until(() -> !AgentContainers.state(first).getRunning());
        assertThat(socket).as("SIGKILL leaves the socket behind").exists();

        GenericContainer<?> second = agents.start(agent(sockets));
        assertThat(second.getLogs()).contains("event=stale_socket_recovered");
        assertDownloadsThrough(socket, "second.bin");

        // Refused at start: it exits (code 10) instead of logging its ready line.
        GenericContainer<?> third = agents.start(agent(sockets).withStartupCheckStrategy(new ExitedStartupCheck())
                .waitingFor(Wait.forLogMessage(".*another dfdaemon holds the lock /run/pollen/dfdaemon.sock.lock.*", 1)));
        await().atMost(Duration.ofSeconds(60)).until(() -> !AgentContainers.state(third).getRunning());
        assertThat(AgentContainers.state(third).getExitCodeLong()).isEqualTo(10L);
        assertThat(third.getLogs()).contains("another dfdaemon holds the lock /run/pollen/dfdaemon.sock.lock");
        assertThat(AgentContainers.state(second).getRunning()).as("the live daemon keeps its socket").isTrue();
        assertDownloadsThrough(socket, "third.bin");
    }

    private void assertDownloadsThrough(Path socket, String name) {
        Path output = outputs.resolve(name);
        Dfget.Result result = new Dfget(socket, dir).download(origin.url("image.bin"), output);
        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(TestFiles.sha256(output)).isEqualTo(file.sha256());
    }

    private GenericContainer<?> agent(Path sockets) {
        return agents.agent(AgentContainers.IMAGE, sockets, outputs);
    }

    /** Started once it has exited, whatever its exit code (the test asserts that). */
    private static final class ExitedStartupCheck extends StartupCheckStrategy {
        @Override
        public StartupStatus checkStartupState(DockerClient client, String containerId) {
            return getCurrentState(client, containerId).getRunning() ? StartupStatus.NOT_YET_KNOWN : StartupStatus.SUCCESSFUL;
        }
    }
}
