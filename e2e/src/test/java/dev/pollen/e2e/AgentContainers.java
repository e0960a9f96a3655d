package dev.pollen.e2e;

import com.github.dockerjava.api.command.InspectContainerResponse;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.testcontainers.containers.BindMode;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.containers.wait.strategy.WaitStrategy;
import org.testcontainers.utility.DockerImageName;

/**
 * Pollen containers through Testcontainers on podman's Docker API ({@link PodmanService}), as the DaemonSet runs
 * them: on the host's network (hostNetwork) with free ports of their own, the socket directory bind-mounted from the
 * host (the chart's hostPath); started once their ready line is logged, removed after each test. Nothing is ever
 * pulled: the images are the ones bin/test built, the Jib one loaded here.
 *
 * <pre>{@code @RegisterExtension final AgentContainers agents = new AgentContainers();}</pre>
 */
final class AgentContainers implements BeforeEachCallback, AfterEachCallback {
    /** The Jib image bin/test built (image/target/pollen-image.tar). */
    static final String IMAGE = Podman.IMAGE;
    private static final Duration READY_TIMEOUT = Duration.ofSeconds(60);

    private final List<GenericContainer<?>> containers = new ArrayList<>();
    @Override
    public void beforeEach(ExtensionContext context) {
        PodmanService.in(context).load(Podman.imageTar());
    }

    /** Waits for the daemon's or scheduler's {@code event=ready} line. */
    static WaitStrategy ready() {
        return Wait.forLogMessage(".*event=ready.*", 1).withStartupTimeout(READY_TIMEOUT);
    }

    /**
     * An agent container of {@code image}, not started: its socket {@code /run/pollen/dfdaemon.sock} in {@code sockets};
     * dfget's outputs are written by the daemon, so {@code outputs} is at the same path on both sides, as a pod that
     * runs dfget shares a hostPath with the agent. {@code daemonFlags} come after the image's own.
     */
    GenericContainer<?> agent(String image, Path sockets, Path outputs, String... daemonFlags) {
        List<String> command = new ArrayList<>(List.of("--download.server.socketPath=/run/pollen/dfdaemon.sock",
                "--storage.dir=/tmp/storage", "--upload.server.port=" + freePort(), "--storage.server.tcpPort=" + freePort(),
                "--metrics.server.port=0", "--health.server.port=0"));
        command.addAll(List.of(daemonFlags));
        return container(image).withFileSystemBind(sockets.toString(), "/run/pollen", BindMode.READ_WRITE)
                .withFileSystemBind(outputs.toString(), outputs.toString(), BindMode.READ_WRITE)
                .withCommand(command.toArray(String[]::new));
    }

    /** The image's scheduler on the host's network at {@code ip:port}, not started. */
    GenericContainer<?> scheduler(String image, String ip, int port) {
        return container(image).withCreateContainerCmdModifier(c -> c.withEntrypoint("/opt/pollen/bin/scheduler"))
                .withCommand("--listen=" + ip, "--port=" + port, "--metrics-port=-1");
    }

    private GenericContainer<?> container(String image) {
        GenericContainer<?> c = new GenericContainer<>(DockerImageName.parse(image)).withNetworkMode("host")
                .withImagePullPolicy(name -> false).withLabels(PodmanService.labels()).waitingFor(ready());
        containers.add(c);
        return c;
    }

    /** Starts {@code container} (one this made) and returns it. */
    <C extends GenericContainer<?>> C start(C container) {
        container.start();
        return container;
    }

    /** SIGKILL to the container's processes, as the kernel's OOM killer or a node crash would. */
    static void kill(GenericContainer<?> container) {
        container.getDockerClient().killContainerCmd(container.getContainerId()).withSignal("KILL").exec();
    }

    /** The container's state now: {@code Running}, {@code ExitCode}, {@code OOMKilled}… */
    static InspectContainerResponse.ContainerState state(GenericContainer<?> container) {
        return container.getDockerClient().inspectContainerCmd(container.getContainerId()).exec().getState();
    }

    /** A port free on this machine now. */
    static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void afterEach(ExtensionContext context) {
        containers.forEach(GenericContainer::stop);
        containers.clear();
    }
}
