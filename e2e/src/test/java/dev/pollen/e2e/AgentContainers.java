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
        return start(image, sockets, outputs, List.of(podmanOptions), List.of());
    }

    /** As {@link #start(String, Path, Path, String...)}, with flags for the daemon after the image's own. */
    String start(String image, Path sockets, Path outputs, List<String> podmanOptions, List<String> daemonFlags) {
        String name = name();
        List<String> args = new ArrayList<>(List.of("run", "-d", "--name", name, "--network", "host",
                "-v", sockets + ":/run/pollen", "-v", outputs + ":" + outputs));
        args.addAll(podmanOptions);
        args.addAll(List.of(image,
                "--download.server.socketPath=/run/pollen/dfdaemon.sock", "--storage.dir=/tmp/storage",
                "--upload.server.port=" + freePort(), "--storage.server.tcpPort=" + freePort(), "--metrics.server.port=0",
                "--health.server.port=0"));
        args.addAll(daemonFlags);
        Podman.check(args.toArray(String[]::new));
        return name;
    }

    /** The image's scheduler on the host's network at {@code ip:port}; returns the container's name. */
    String startScheduler(String image, String ip, int port) {
        String name = name();
        Podman.check("run", "-d", "--name", name, "--network", "host", "--entrypoint", "/opt/pollen/bin/scheduler", image,
                "--listen=" + ip, "--port=" + port, "--metrics-port=-1");
        return name;
    }

    private String name() {
        String name = "pollen-e2e-" + UUID.randomUUID().toString().substring(0, 8);
        names.add(name);
        return name;
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
        for (String name : names) {
            Podman.run("rm", "-f", name);
        }
        names.clear();
    }

}
