package dev.pollen.agent.mirror;

import dev.pollen.agent.config.ProxyConfig;
import dev.pollen.agent.metrics.AgentMetrics;
import dev.pollen.agent.origin.Backoff;
import dev.pollen.agent.origin.OriginClient;
import dev.pollen.agent.origin.OriginPolicy;
import dev.pollen.agent.storage.ManifestStore;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.storage.TaskSnapshot;
import dev.pollen.agent.task.TaskManager;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** A mirror on an ephemeral loopback port over a real task manager (origin only, no scheduler) storing in {@code dir}. */
final class MirrorFixture implements AutoCloseable {
    /** What the mirror and its downloads count. */
    final SimpleMeterRegistry meters = new SimpleMeterRegistry();
    final Storage storage;
    final TaskManager tasks;
    final MirrorServer server;
    final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private final ExecutorService work = Executors.newVirtualThreadPerTaskExecutor();
    private final OriginClient origin;

    /** As the embedded default configures checks and manifests. */
    static final ProxyConfig.Authorization CHECKED = new ProxyConfig.Authorization(true, 10_000, Duration.ofMinutes(1),
            Duration.ofMinutes(10), Duration.ofHours(1), true);
    static final ProxyConfig.Manifests KEPT = new ProxyConfig.Manifests(true, Duration.ofSeconds(10), true, Duration.ofHours(24));

    /** @param insecure registries spoken to in plain http (every fake registry here) */
    MirrorFixture(Path dir, String defaultRegistry, List<String> insecure, Duration idleTimeout) throws IOException {
        this(dir, defaultRegistry, insecure, idleTimeout, CHECKED, KEPT, Clock.systemUTC());
    }

    MirrorFixture(Path dir, String defaultRegistry, List<String> insecure, Duration idleTimeout, ProxyConfig.Authorization authorization,
                  ProxyConfig.Manifests manifests, Clock clock) throws IOException {
        storage = new Storage(dir.resolve("store"));
        origin = new OriginClient(1, new Backoff(Duration.ofMillis(10)), Duration.ofSeconds(2), Duration.ofSeconds(10));
        AgentMetrics metrics = new AgentMetrics(meters);
        tasks = new TaskManager(storage, origin, work, 4, Clock.systemUTC(), null, metrics);
        ProxyConfig config = new ProxyConfig(new ProxyConfig.Server(true, "127.0.0.1", 0, 1, idleTimeout),
                List.of(new ProxyConfig.Rule("/v2/.*/blobs/sha256:.*", false, null)),
                new ProxyConfig.RegistryMirror(defaultRegistry, insecure), authorization, manifests);
        server = MirrorServer.start(config, tasks, new ManifestStore(dir.resolve("store"), clock), Duration.ofSeconds(2),
                Duration.ofSeconds(10), List.of(), OriginPolicy.ALLOW_ALL, clock, metrics);
    }

    /** Whether the task is finished in the store (durable: what a HEAD answers from), not only verified. */
    boolean finished(String taskId) throws IOException {
        TaskSnapshot s = tasks.snapshot(taskId);
        return s != null && s.metadata().finished();
    }

    int port() {
        return server.address().getPort();
    }

    /** A mirror url as containerd asks it: the path, then {@code ns} (and {@code extraQuery}, if any). */
    URI mirrorUri(String path, String ns) {
        return URI.create("http://127.0.0.1:" + port() + path + "?ns=" + ns);
    }

    HttpResponse<byte[]> get(URI uri, String... headers) throws Exception {
        return client.send(request(uri, headers).GET().build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    HttpResponse<Void> head(URI uri, String... headers) throws Exception {
        return client.send(request(uri, headers).method("HEAD", HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.discarding());
    }

    private static HttpRequest.Builder request(URI uri, String... headers) {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri);
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return b;
    }

    @Override
    public void close() {
        server.close();
        tasks.close();
        work.shutdownNow();
        origin.close();
        client.shutdownNow();
    }
}
