package dev.pollen.e2e;

import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A real Prometheus (Debian's {@code prometheus}, {@code /usr/bin/prometheus}) on loopback, scraping the given targets
 * every second, with its data in a directory of the test's; queried over its HTTP API. Stopped by PID.
 */
final class Prometheus implements AutoCloseable {
    static final Path BINARY = Path.of("/usr/bin/prometheus");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Process process;
    private final int port;
    private final Path log;
    private final HttpClient http = HttpClient.newHttpClient();

    private Prometheus(Process process, int port, Path log) {
        this.process = process;
        this.port = port;
        this.log = log;
    }

    /** @param targets job name → {@code host:port} of its /metrics */
    static Prometheus start(Path dir, Map<String, String> targets) {
        if (!Files.isExecutable(BINARY)) {
            throw new IllegalStateException(BINARY + " is missing (fix: apt-get install -y prometheus, or run bin/test, which installs it)");
        }
        try {
            Files.createDirectories(dir);
            StringBuilder config = new StringBuilder("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
            targets.forEach((job, target) -> config.append("  - job_name: ").append(job).append("\n    static_configs:\n")
                    .append("      - targets: ['").append(target).append("']\n"));
            Path yml = dir.resolve("prometheus.yml");
            Files.writeString(yml, config);
            int port = freePort();
            Path log = dir.resolve("prometheus.log");
            // Prometheus takes no port 0; a port free a moment ago may be taken meanwhile, which shows in its log.
            Process p = ChildProcesses.track(new ProcessBuilder(BINARY.toString(), "--config.file=" + yml,
                    "--storage.tsdb.path=" + dir.resolve("data"), "--web.listen-address=127.0.0.1:" + port)
                    .directory(dir.toFile())
                    .redirectErrorStream(true)
                    .redirectOutput(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .start());
            Prometheus prometheus = new Prometheus(p, port, log);
            await("prometheus to be ready").atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200))
                    .failFast("prometheus exited (its log: " + log + ")", () -> !p.isAlive())
                    .until(prometheus::ready);
            return prometheus;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One sample of an instant query's answer: its labels and value. */
    record Sample(Map<String, String> labels, double value) {
    }

    /** {@code /api/v1/query?query=promql}: the samples of an instant vector. */
    List<Sample> query(String promql) {
        JsonNode answer = get("/api/v1/query?query=" + URLEncoder.encode(promql, StandardCharsets.UTF_8));
        if (!answer.path("status").asText().equals("success")) {
            throw new AssertionError("query " + promql + " failed: " + answer);
        }
        List<Sample> samples = new ArrayList<>();
        for (JsonNode r : answer.path("data").path("result")) {
            Map<String, String> labels = new java.util.TreeMap<>();
            r.path("metric").fields().forEachRemaining(e -> labels.put(e.getKey(), e.getValue().asText()));
            samples.add(new Sample(labels, Double.parseDouble(r.path("value").get(1).asText())));
        }
        return samples;
    }

    /** The value of a query that answers one sample; NaN while it answers none. */
    double value(String promql) {
        List<Sample> samples = query(promql);
        if (samples.size() > 1) {
            throw new AssertionError("query " + promql + " answered " + samples.size() + " samples: " + samples);
        }
        return samples.isEmpty() ? Double.NaN : samples.getFirst().value();
    }

    private boolean ready() {
        try {
            return http.send(HttpRequest.newBuilder(uri("/-/ready")).build(), HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private JsonNode get(String pathAndQuery) {
        try {
            return JSON.readTree(http.send(HttpRequest.newBuilder(uri(pathAndQuery)).build(), HttpResponse.BodyHandlers.ofString()).body());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private URI uri(String pathAndQuery) {
        return URI.create("http://127.0.0.1:" + port + pathAndQuery);
    }

    String log() {
        return LogFiles.read(log);
    }

    @Override
    public void close() {
        ChildProcesses.terminate(process, Duration.ofSeconds(10));
        http.close();
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
