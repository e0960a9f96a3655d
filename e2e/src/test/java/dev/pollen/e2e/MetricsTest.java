package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.e2e.TestFiles.TestFile;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The monitoring endpoints of real processes: a scheduler and two agents on loopback addresses of their own, nginx as
 * the origin, and a real Prometheus scraping an agent and the scheduler. The counters move by the bytes downloaded, from
 * the origin on the first agent and from it on the second; PromQL over Prometheus's HTTP API sees the same.
 */
class MetricsTest {
    private static final long PIECE = 4 * MiB;

    @RegisterExtension
    static final Nginx origin = new Nginx().location(Nginx.rateLimited("/slow/", "4m"));

    @RegisterExtension
    static final Daemons daemons = new Daemons();

    @TempDir
    static Path work;

    private static final HttpClient http = HttpClient.newHttpClient();
    private static SchedulerProcess scheduler;

    @BeforeAll
    static void startScheduler() {
        scheduler = SchedulerProcess.start(work.resolve("scheduler"), List.of(), "--port=0", "--listen=127.0.0.1");
    }

    @AfterAll
    static void stopScheduler() {
        assertThat(scheduler.errors()).isEmpty();
        scheduler.terminate();
    }

    @Test
    void countersMoveByTheBytesOfADownloadAndOfAP2pDownloadAndPrometheusSeesThem() {
        DaemonProcess first = agent("127.0.0.2");
        DaemonProcess second = agent("127.0.0.3");
        TestFile file = origin.createFile("metrics.bin", 4 * PIECE + 123, 21);
        assertThat(sample(first, "pollen_download_bytes_total{source=\"origin\"}")).isZero();

        Dfget.Result fromOrigin = first.dfget().download(origin.url("/metrics.bin"), work.resolve("first.bin"));
        assertThat(fromOrigin.exitCode()).as(fromOrigin.toString()).isZero();
        assertThat(sample(first, "pollen_download_bytes_total{source=\"origin\"}")).isEqualTo(file.size());
        assertThat(sample(first, "pollen_pieces_total{source=\"origin\"}")).isEqualTo(5);
        assertThat(sample(first, "pollen_downloads_total{result=\"success\"}")).isEqualTo(1);
        assertThat(sample(first, "pollen_download_duration_seconds_count{result=\"success\"}")).isEqualTo(1);
        assertThat(sample(first, "pollen_back_to_source_total{reason=\"scheduler_decided\"}")).isEqualTo(1);
        assertThat(sample(first, "pollen_scheduler_connected")).isEqualTo(1);
        assertThat(sample(first, "pollen_tasks_stored")).isEqualTo(1);
        try (DaemonChannel upload = DaemonChannel.tcp("127.0.0.2", MixedCluster.uploadPort(first))) {
            assertThat(grpcHealth(upload)).as("the upload port's gRPC health").isEqualTo("SERVING");
        }

        Dfget.Result fromPeer = second.dfget().download(origin.url("/metrics.bin"), work.resolve("second.bin"));
        assertThat(fromPeer.exitCode()).as(fromPeer.toString()).isZero();
        assertThat(sample(second, "pollen_download_bytes_total{source=\"peer\"}")).isEqualTo(file.size());
        assertThat(sample(second, "pollen_download_bytes_total{source=\"origin\"}")).isZero();
        assertThat(sample(second, "pollen_pieces_total{source=\"peer\"}")).isEqualTo(5);
        assertThat(sample(second, "pollen_piece_duration_seconds_count{source=\"peer\"}")).isEqualTo(5);
        await("the first agent's upload to be counted").untilAsserted(() ->
                assertThat(sample(first, "pollen_upload_bytes_total")).isEqualTo(file.size()));
        assertThat(sample(first, "pollen_download_bytes_total{source=\"origin\"}")).as("unchanged").isEqualTo(file.size());

        try (Prometheus prometheus = Prometheus.start(work.resolve("prometheus"), Map.of(
                "pollen-agent", "127.0.0.1:" + first.metricsPort(),
                "pollen-scheduler", "127.0.0.1:" + scheduler.metricsPort()))) {
            await("prometheus to scrape both targets").atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
                assertThat(prometheus.value("up{job=\"pollen-agent\"}")).isEqualTo(1);
                assertThat(prometheus.value("up{job=\"pollen-scheduler\"}")).isEqualTo(1);
            });
            assertThat(prometheus.value("pollen_download_bytes_total{job=\"pollen-agent\",source=\"origin\"}")).isEqualTo(file.size());
            assertThat(prometheus.value("pollen_upload_bytes_total{job=\"pollen-agent\"}")).isEqualTo(file.size());
            assertThat(prometheus.value("sum(pollen_scheduler_decisions_total{job=\"pollen-scheduler\"})")).isGreaterThanOrEqualTo(2);
            assertThat(prometheus.value("pollen_scheduler_back_to_source_grants_total{job=\"pollen-scheduler\"}")).isEqualTo(1);
            assertThat(prometheus.value("pollen_scheduler_hosts{job=\"pollen-scheduler\"}")).isEqualTo(2);
            assertThat(prometheus.value("sum(jvm_memory_used_bytes{job=\"pollen-agent\",area=\"heap\"})")).isPositive();
        }
    }

    @Test
    void healthIsOkWhileServingAnd503WhileStopping() throws Exception {
        DaemonProcess daemon = daemons.start();
        assertThat(health(daemon)).isEqualTo("200 OK");
        try (DaemonChannel socket = DaemonChannel.uds(daemon.socket())) {
            assertThat(grpcHealth(socket)).isEqualTo("SERVING");
        }
        assertThat(get(scheduler.metricsPort(), "/healthy")).isEqualTo("200 OK");
        assertThat(get(daemon.healthPort(), "/livez")).isEqualTo("200 OK");

        // A download in flight holds the stopping daemon up to its grace period: /healthy says so meanwhile.
        origin.createFile("stopping.bin", 2 * PIECE, 22);
        Dfget.Running slow = daemon.dfget().startDownload(origin.url("/slow/stopping.bin"), work.resolve("stopping.bin"));
        await("the download to start").until(() -> !daemon.logLines("event=download_started").isEmpty());
        int healthPort = daemon.healthPort();
        CompletableFuture<Integer> exit = CompletableFuture.supplyAsync(daemon::terminate);
        await("/healthy to say the daemon is stopping").pollInterval(Duration.ofMillis(20))
                .until(() -> get(healthPort, "/healthy").equals("503 stopping"));
        assertThat(get(healthPort, "/livez")).as("stopping is not wedged").isEqualTo("200 OK");
        try (DaemonChannel socket = DaemonChannel.uds(daemon.socket())) {
            assertThat(grpcHealth(socket)).as("the socket's gRPC health while stopping").isNotEqualTo("SERVING");
        }
        assertThat(slow.await(Duration.ofSeconds(60)).exitCode()).isZero();
        assertThat(exit.join()).isEqualTo(143);
    }

    @Test
    void theReadyLineNamesTheMonitoringPortsAndOtherPathsAre404() throws Exception {
        DaemonProcess daemon = daemons.start();
        Matcher m = Pattern.compile("metrics=0\\.0\\.0\\.0:(\\d+) health=0\\.0\\.0\\.0:(\\d+)")
                .matcher(daemon.logLines("event=ready").getFirst());
        assertThat(m.find()).isTrue();
        assertThat(Integer.parseInt(m.group(1))).isEqualTo(daemon.metricsPort()).isPositive();
        assertThat(get(daemon.metricsPort(), "/nope")).startsWith("404 ");
        assertThat(get(daemon.healthPort(), "/metrics")).startsWith("404 ");
        assertThat(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + daemon.metricsPort() + "/metrics"))
                .DELETE().build(), HttpResponse.BodyHandlers.discarding()).statusCode()).isEqualTo(405);
    }

    /** The server's gRPC health status, or the status code of the failed check (a stopping server takes no new calls). */
    private static String grpcHealth(DaemonChannel channel) {
        try {
            return HealthGrpc.newBlockingStub(channel.channel()).withDeadlineAfter(5, TimeUnit.SECONDS)
                    .check(HealthCheckRequest.getDefaultInstance()).getStatus().name();
        } catch (StatusRuntimeException e) {
            return e.getStatus().getCode().name();
        }
    }

    @Test
    void aMetricsPortInUseStopsTheStartWithOneLineNamingTheKey() throws Exception {
        DaemonProcess first = daemons.start();
        DaemonProcess.Spec spec = daemons.newSpec().withFlags("--metrics.server.port=" + first.metricsPort());
        DaemonProcess refused = daemons.launch(spec).expectErrors("event=startup_failed");
        assertThat(refused.awaitExit(Duration.ofSeconds(30))).as(refused.toString()).isEqualTo(14);
        assertThat(refused.stderr().strip()).startsWith("dfdaemon: cannot listen on 0.0.0.0:" + first.metricsPort() + " for metrics: ")
                .contains("(fix: free the port, set metrics.server.port (0 picks a free one) or metrics.server.enable=false)")
                .doesNotContain("\tat ");
    }

    private static DaemonProcess agent(String ip) {
        return MixedCluster.startAgent(daemons, ip, "127.0.0.1:" + scheduler.port());
    }

    private static String health(DaemonProcess daemon) {
        return get(daemon.healthPort(), "/healthy");
    }

    /** The value of one sample in the agent's /metrics, e.g. {@code pollen_pieces_total{source="origin"}}. */
    private static double sample(DaemonProcess daemon, String series) {
        String body = get(daemon.metricsPort(), "/metrics");
        return body.lines().filter(l -> l.startsWith(series + " ")).findFirst()
                .map(l -> Double.parseDouble(l.substring(series.length() + 1)))
                .orElseThrow(() -> new AssertionError(series + " is not in /metrics:\n" + body));
    }

    /** {@code "<status> <body without its newline>"}; a refused connection reads {@code "refused"}. */
    private static String get(int port, String path) {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
                    HttpResponse.BodyHandlers.ofString());
            return r.statusCode() + " " + r.body().strip();
        } catch (IOException e) {
            return "refused";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
