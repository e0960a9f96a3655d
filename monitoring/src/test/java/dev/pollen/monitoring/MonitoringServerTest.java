package dev.pollen.monitoring;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class MonitoringServerTest {
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final Readiness readiness = new Readiness();
    private final HttpClient http = HttpClient.newHttpClient();
    private MonitoringServer server;

    @BeforeEach
    void start() throws IOException {
        server = MonitoringServer.start("test", new InetSocketAddress("127.0.0.1", 0),
                Map.of(Endpoints.METRICS, Endpoints.metrics(registry), Endpoints.HEALTHY, Endpoints.health(readiness)));
    }

    @AfterEach
    void stop() {
        server.close();
        http.close();
    }

    @Test
    void servesTheRegistryInThePrometheusTextFormat() throws Exception {
        registry.counter("pollen.test.bytes", "source", "origin").increment(42);
        HttpResponse<String> r = get("/metrics");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type")).hasValue("text/plain; version=0.0.4; charset=utf-8");
        assertThat(r.body()).contains("# TYPE pollen_test_bytes_total counter").contains("pollen_test_bytes_total{source=\"origin\"} 42.0");
    }

    @Test
    void healthIs503WhileStartingThen200WhileServingAnd503OnceStopping() throws Exception {
        assertThat(get("/healthy")).satisfies(r -> {
            assertThat(r.statusCode()).isEqualTo(503);
            assertThat(r.body()).isEqualTo("starting\n");
        });
        readiness.serving();
        assertThat(get("/healthy")).satisfies(r -> {
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.body()).isEqualTo("OK\n");
            assertThat(r.headers().firstValue("Content-Type")).hasValue(Answer.TEXT);
        });
        readiness.stopping();
        assertThat(get("/healthy")).satisfies(r -> {
            assertThat(r.statusCode()).isEqualTo(503);
            assertThat(r.body()).isEqualTo("stopping\n");
        });
    }

    @Test
    void aFailingCheckMakesItUnhealthyWithItsReasonAndListenersHearEachChange() throws Exception {
        AtomicReference<String> problem = new AtomicReference<>();
        List<Boolean> heard = new ArrayList<>();
        readiness.addCheck(problem::get);
        readiness.onChange(heard::add);
        readiness.serving();
        problem.set("storage.dir /x is not writable (fix: ...)");
        HttpResponse<String> r = get("/healthy");
        assertThat(r.statusCode()).isEqualTo(503);
        assertThat(r.body()).isEqualTo("storage.dir /x is not writable (fix: ...)\n");
        problem.set(null);
        assertThat(get("/healthy").statusCode()).isEqualTo(200);
        readiness.stopping();
        assertThat(heard).containsExactly(true, false, true, false);
    }

    @Test
    void anotherPathIs404AndAnotherMethodIs405() throws Exception {
        HttpResponse<String> missing = get("/metrics/x");
        assertThat(missing.statusCode()).isEqualTo(404);
        assertThat(missing.body()).contains("/healthy, /metrics");
        HttpResponse<String> post = http.send(HttpRequest.newBuilder(uri("/metrics")).POST(HttpRequest.BodyPublishers.ofString("x")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(post.statusCode()).isEqualTo(405);
        assertThat(post.headers().firstValue("Allow")).hasValue("GET, HEAD");
        HttpResponse<Void> head = http.send(HttpRequest.newBuilder(uri("/healthy")).method("HEAD", HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.discarding());
        assertThat(head.statusCode()).isEqualTo(503);
    }

    @Test
    void garbageAndAnEndpointThatThrowsLeaveItServing() throws Exception {
        server.close();
        server = MonitoringServer.start("test", new InetSocketAddress("127.0.0.1", 0), Map.of("/boom", () -> {
            throw new IllegalStateException("broken");
        }, Endpoints.HEALTHY, Endpoints.health(readiness)));
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            OutputStream out = s.getOutputStream();
            out.write("\u0000\u0001 not http at all\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            InputStream in = s.getInputStream();
            in.readAllBytes();
        }
        assertThat(get("/boom").statusCode()).isEqualTo(500);
        readiness.serving();
        assertThat(get("/healthy").statusCode()).isEqualTo(200);
    }

    private HttpResponse<String> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(uri(path)).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    private URI uri(String path) {
        return URI.create("http://127.0.0.1:" + server.port() + path);
    }
}
