package dev.pollen.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code dfdaemon containerd-config} against a real containerd: the hosts.toml it writes sends {@code ctr}
 * to the mirror first (with {@code ?ns=}), then to the registry, and a stopped agent costs a pull nothing.
 * The mirror and the registry are small HTTP servers that record what they are asked and answer 404, which
 * is what sends containerd on to its next host; no image is needed to see the order.
 */
class ContainerdConfigTest {
    private static final Path CONTAINERD = Path.of("/usr/bin/containerd");
    private static final Path CTR = Path.of("/usr/bin/ctr");

    @TempDir
    Path dir;
    private Path certs;
    private Path config;
    private Path socket;
    private Process containerd;
    private final Recorder registry = new Recorder();
    private final Recorder otherRegistry = new Recorder();

    @BeforeEach
    void startContainerd() throws Exception {
        for (Path binary : List.of(CONTAINERD, CTR)) {
            // Not a skip: these tests are how we know the generated files work with containerd at all.
            assertThat(binary).as("%s is missing (fix: apt-get install -y containerd; bin/test installs it)", binary).isExecutable();
        }
        certs = dir.resolve("certs.d");
        socket = dir.resolve("containerd.sock");
        config = dir.resolve("config.toml");
        // Its own root, state, socket and opt directory; CRI off (nothing here talks CRI, and it would open ports).
        Files.writeString(config, """
                version = 2
                root = "%1$s/root"
                state = "%1$s/state"
                disabled_plugins = ["io.containerd.grpc.v1.cri"]
                [grpc]
                  address = "%2$s"
                [plugins."io.containerd.internal.v1.opt"]
                  path = "%1$s/opt"
                [plugins."io.containerd.grpc.v1.cri".registry]
                  config_path = "%3$s"
                """.formatted(dir, socket, certs));
        containerd = ChildProcesses.track(new ProcessBuilder(CONTAINERD.toString(), "--config", config.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("containerd.log").toFile()).start());
        await().atMost(Duration.ofSeconds(20)).until(() -> Files.exists(socket) || !containerd.isAlive());
        assertThat(containerd.isAlive()).as("containerd exited; see %s", dir.resolve("containerd.log")).isTrue();
    }

    @AfterEach
    void stop() {
        if (containerd != null) {
            ChildProcesses.terminate(containerd, Duration.ofSeconds(10));
        }
        registry.close();
        otherRegistry.close();
    }

    @Test
    void containerdAsksTheMirrorFirstWithTheRegistryInNsThenFallsBackToTheRegistry() throws Exception {
        try (Recorder mirror = new Recorder()) {
            containerdConfig(mirror.port());

            Pull named = pull(registry.host() + "/x:1");
            Pull other = pull(otherRegistry.host() + "/y:2");

            assertThat(named.exitCode()).as(named.output()).isNotZero();
            assertThat(named.output()).contains("not found");
            // A registry with its own hosts.toml, then one only _default covers: both mirror first, named by ns.
            assertThat(mirror.requests()).containsExactly(
                    "HEAD /v2/x/manifests/1?ns=" + registry.host().replace(":", "%3A"),
                    "HEAD /v2/y/manifests/2?ns=" + otherRegistry.host().replace(":", "%3A"));
            assertThat(registry.requests()).containsExactly("HEAD /v2/x/manifests/1");
            assertThat(other.exitCode()).isNotZero();
            assertThat(otherRegistry.requests()).containsExactly("HEAD /v2/y/manifests/2");
            assertThat(mirror.firstAt()).isLessThan(registry.firstAt());
        }
    }

    @Test
    void aMergedFileKeepsTheUsersHostAfterTheMirrorAndBeforeTheRegistry() throws Exception {
        try (Recorder mirror = new Recorder(); Recorder cache = new Recorder()) {
            Path file = certs.resolve(registry.host()).resolve("hosts.toml");
            Files.createDirectories(file.getParent());
            Files.writeString(file, """
                    # the team's pull-through cache, then the registry
                    server = "http://%s"
                    [host."http://%s"]
                      capabilities = ["pull", "resolve"]
                    """.formatted(registry.host(), cache.host()));
            containerdConfig(mirror.port(), "updated " + file);

            pull(registry.host() + "/x:1");

            String ns = "?ns=" + registry.host().replace(":", "%3A");
            assertThat(mirror.requests()).containsExactly("HEAD /v2/x/manifests/1" + ns);
            assertThat(cache.requests()).containsExactly("HEAD /v2/x/manifests/1" + ns);
            assertThat(registry.requests()).containsExactly("HEAD /v2/x/manifests/1");
            assertThat(mirror.firstAt()).isLessThan(cache.firstAt());
            assertThat(cache.firstAt()).isLessThan(registry.firstAt());
        }
    }

    @Test
    void aStoppedAgentCostsAPullNoTimeBeforeTheRegistry() throws Exception {
        int deadPort;
        try (ServerSocket s = new ServerSocket(0)) {
            deadPort = s.getLocalPort();
        }
        containerdConfig(deadPort);

        long start = System.nanoTime();
        Pull pull = pull(registry.host() + "/x:1");
        Duration took = Duration.ofNanos(System.nanoTime() - start);

        assertThat(pull.output()).contains("127.0.0.1:" + deadPort).contains("connection refused");
        assertThat(registry.requests()).containsExactly("HEAD /v2/x/manifests/1");
        // containerd's default dial timeout is 30 s; ctr itself starts in well under a second.
        assertThat(took).isLessThan(Duration.ofSeconds(5));
    }

    private void containerdConfig(int mirrorPort) throws Exception {
        containerdConfig(mirrorPort, "created " + certs.resolve(registry.host()).resolve("hosts.toml"));
    }

    private void containerdConfig(int mirrorPort, String expected) throws Exception {
        Process p = new ProcessBuilder(Pollen.dfdaemon().toString(), "containerd-config",
                "--certs-dir", certs.toString(), "--containerd-config", config.toString(),
                "--registry", registry.host(), "--plain-http", registry.host(),
                "--mirror", "http://127.0.0.1:" + mirrorPort)
                .redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(output).isZero();
        assertThat(output).contains(expected).contains("no restart needed");
    }

    record Pull(int exitCode, String output) {
    }

    private Pull pull(String ref) throws Exception {
        Process p = ChildProcesses.track(new ProcessBuilder(CTR.toString(), "--address", socket.toString(),
                "images", "pull", "--hosts-dir", certs.toString(), ref).redirectErrorStream(true).start());
        String output = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("ctr pull %s still running: %s", ref, output).isTrue();
        return new Pull(p.exitValue(), output);
    }

    /** An HTTP server on a free loopback port that answers 404 to everything and records each request. */
    static final class Recorder implements AutoCloseable {
        private final HttpServer server;
        private final List<String> requests = new CopyOnWriteArrayList<>();
        private volatile long firstAt;

        Recorder() {
            try {
                server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            server.createContext("/", exchange -> {
                if (requests.isEmpty()) {
                    firstAt = System.nanoTime();
                }
                requests.add(exchange.getRequestMethod() + " " + exchange.getRequestURI());
                exchange.sendResponseHeaders(404, -1);
                exchange.close();
            });
            server.start();
        }

        int port() {
            return server.getAddress().getPort();
        }

        String host() {
            return "127.0.0.1:" + port();
        }

        List<String> requests() {
            return List.copyOf(requests);
        }

        long firstAt() {
            return firstAt;
        }

        @Override
        public void close() {
            server.stop(0);
        }
    }
}
