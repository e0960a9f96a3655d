package dev.pollen.agent.task;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pollen.agent.metrics.AgentMetrics;
import dev.pollen.agent.origin.Backoff;
import dev.pollen.agent.origin.OriginClient;
import dev.pollen.agent.origin.TestOrigin;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.storage.TaskMetadata;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The counters a real download moves, read from the registry the daemon serves at /metrics. */
class DownloadMetricsTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private TestOrigin origin;
    private ExecutorService executor;
    private TaskManager tasks;
    private Downloader downloader;

    @BeforeEach
    void setUp() throws Exception {
        origin = new TestOrigin();
        executor = Executors.newVirtualThreadPerTaskExecutor();
        OriginClient client = new OriginClient(1, new Backoff(Duration.ofMillis(10)), Duration.ofSeconds(2), Duration.ofSeconds(5));
        tasks = new TaskManager(new Storage(dir.resolve("store")), client, executor, 4, Clock.systemUTC(), null,
                new AgentMetrics(registry));
        downloader = new Downloader(tasks);
    }

    @AfterEach
    void tearDown() {
        tasks.close();
        executor.shutdownNow();
        origin.close();
    }

    @Test
    void aDownloadFromTheOriginThenFromTheCacheCountsItsBytesBySource() throws Exception {
        byte[] body = new byte[9 * MIB + 7];
        new Random(1).nextBytes(body);
        origin.serve("/f", body);

        download("/f", "a");
        assertThat(counter("pollen.download.bytes", "source", "origin")).isEqualTo(body.length);
        assertThat(counter("pollen.download.bytes", "source", "local")).isZero();
        assertThat(counter("pollen.pieces", "source", "origin")).isEqualTo(3); // 4 MiB pieces
        assertThat(registry.get("pollen.piece.duration").tag("source", "origin").timer().count()).isEqualTo(3);
        assertThat(counter("pollen.back.to.source", "reason", "no_scheduler")).isEqualTo(1);
        assertThat(counter("pollen.downloads", "result", "success")).isEqualTo(1);

        download("/f", "b");
        assertThat(counter("pollen.download.bytes", "source", "origin")).isEqualTo(body.length);
        assertThat(counter("pollen.download.bytes", "source", "local")).isEqualTo(body.length);
        assertThat(counter("pollen.pieces", "source", "origin")).as("nothing fetched again").isEqualTo(3);
        assertThat(counter("pollen.downloads", "result", "success")).isEqualTo(2);
        assertThat(registry.get("pollen.download.duration").tag("result", "success").timer().count()).isEqualTo(2);

        assertThat(registry.scrape())
                .contains("pollen_download_bytes_total{source=\"origin\"} " + (double) body.length)
                .contains("pollen_downloads_total{result=\"success\"} 2.0")
                .contains("pollen_download_duration_seconds_bucket{result=\"success\",le=\"0.01\"}")
                .contains("pollen_piece_duration_seconds_count{source=\"origin\"} 3")
                .contains("pollen_back_to_source_total{reason=\"no_scheduler\"} 1.0");
    }

    @Test
    void aFailedDownloadCountsAsAFailure() {
        origin.status("/missing", 404);
        assertThatThrownBy(() -> download("/missing", "x")).isInstanceOf(RuntimeException.class);
        assertThat(counter("pollen.downloads", "result", "failure")).isEqualTo(1);
        assertThat(counter("pollen.downloads", "result", "success")).isZero();
        assertThat(registry.get("pollen.download.duration").tag("result", "failure").timer().count()).isEqualTo(1);
    }

    private TaskMetadata download(String path, String output) throws Exception {
        return downloader.download(new DownloadRequest(new TaskSpec(origin.url(path), null, null, null, Set.of(), Map.of()), null, null,
                dir.resolve(output), false, false, true), new DownloadListener() {
            @Override
            public void started(TaskMetadata metadata) {
            }

            @Override
            public void pieceReady(ReadyPiece piece) {
            }
        }, new CompletableFuture<>());
    }

    private double counter(String name, String tag, String value) {
        return registry.get(name).tag(tag, value).counter().count();
    }
}
