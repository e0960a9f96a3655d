package dev.pollen.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Agent containers in podman as the DaemonSet runs them: on the host's network (hostNetwork) with free ports of their
 * own, the socket directory bind-mounted from the host (the chart's hostPath); removed after each test.
 *
 * <pre>{@code @RegisterExtension final AgentContainers agents = new AgentContainers();}</pre>
 */
final class AgentContainers implements AfterEachCallback {
    private final List<String> names = new ArrayList<>();

    /**
     * Starts {@code image} detached, its socket {@code /run/pollen/dfdaemon.sock} in {@code sockets}; dfget's outputs
     * are written by the daemon, so {@code outputs} is at the same path on both sides, as a pod that runs dfget
     * shares a hostPath with the agent. Returns the container's name.
     */
    String start(String image, Path sockets, Path outputs, String... podmanOptions) {
        String name = "pollen-e2e-" + UUID.randomUUID().toString().substring(0, 8);
        names.add(name);
        List<String> args = new ArrayList<>(List.of("run", "-d", "--name", name, "--network", "host",
                "-v", sockets + ":/run/pollen", "-v", outputs + ":" + outputs));
        args.addAll(List.of(podmanOptions));
        args.addAll(List.of(image,
                "--download.server.socketPath=/run/pollen/dfdaemon.sock", "--storage.dir=/tmp/storage",
                "--upload.server.port=" + freePort(), "--storage.server.tcpPort=" + freePort(), "--metrics.server.port=0",
                "--health.server.port=0"));
        Podman.check(args.toArray(String[]::new));
        return name;
    }

    @Override
    public void afterEach(ExtensionContext context) {
        for (String name : names) {
            Podman.run("rm", "-f", name);
        }
        names.clear();
    }

    private static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
