package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.e2e.TestFiles.TestFile;
import dev.pollen.e2e.registry.Commands;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.testcontainers.containers.GenericContainer;

/**
 * The image as a cluster runs it: the scheduler in one container, two agents in two more (host network, as the
 * chart's hostNetwork; each its own loopback address as host IP), an origin outside: the second agent takes the
 * file the first fetched from the origin, every piece from the first agent's container.
 */
class ContainerP2pTest {
    @RegisterExtension
    static final Nginx origin = new Nginx();

    @RegisterExtension
    final AgentContainers containers = new AgentContainers();

    @TempDir
    Path dir;

    @Test
    void aSchedulerAndTwoAgentContainersShareAFile() throws Exception {
        TestFile file = origin.createFile("p2p.bin", 40 * MiB, 51);
        int schedulerPort = AgentContainers.freePort();
        GenericContainer<?> scheduler = containers.start(containers.scheduler(AgentContainers.IMAGE, "127.0.0.1", schedulerPort));
        Path outputs = Files.createDirectories(dir.resolve("out"));
        Path first = agent("127.0.0.2", schedulerPort, outputs);
        Path second = agent("127.0.0.3", schedulerPort, outputs);

        Dfget.Result a = new Dfget(first.resolve("dfdaemon.sock"), dir).download(origin.url("p2p.bin"), outputs.resolve("a.bin"));
        assertThat(a.exitCode()).as(a.toString()).isZero();
        Dfget.Result b = new Dfget(second.resolve("dfdaemon.sock"), dir).download(origin.url("p2p.bin"), outputs.resolve("b.bin"));
        assertThat(b.exitCode()).as(b.toString()).isZero();

        assertThat(TestFiles.sha256(outputs.resolve("b.bin"))).isEqualTo(file.sha256());
        assertThat(b.summary().peers()).as("pieces the second container took from the first: " + b + "\n"
                + scheduler.getLogs()).isEqualTo(b.summary().total());
    }

    /** An agent container with its socket directory on the host; returns that directory. */
    private Path agent(String ip, int schedulerPort, Path outputs) throws Exception {
        Path sockets = Files.createDirectories(dir.resolve(ip));
        Commands.check(Podman.TIMEOUT, List.of("chown", "65532:65532", sockets.toString(), outputs.toString()));
        containers.start(containers.agent(AgentContainers.IMAGE, sockets, outputs,
                "--scheduler.addresses=127.0.0.1:" + schedulerPort, "--host.ip=" + ip, "--upload.server.ip=" + ip));
        return sockets;
    }
}
