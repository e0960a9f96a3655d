package dev.pollen.monitoring;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.nio.charset.StandardCharsets;

/** The two endpoints Pollen serves: Prometheus metrics and the health verdict. */
public final class Endpoints {
    /** Dragonfly's paths (dfdaemon's health and metrics servers, its scheduler's metrics server): probes and scrape configs carry over. */
    public static final String METRICS = "/metrics";
    public static final String HEALTHY = "/healthy";
    /** Pollen's own (Dragonfly has none): a liveness probe that does not restart a process that is only starting or stopping. */
    public static final String LIVEZ = "/livez";
    /** What {@link PrometheusMeterRegistry#scrape()} writes (the exposition library's own constant is not on the compile path). */
    public static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";

    private Endpoints() {
    }

    /** The registry in the Prometheus text format 0.0.4, which every Prometheus since 2.0 reads. */
    public static Endpoint metrics(PrometheusMeterRegistry registry) {
        return () -> new Answer(200, PROMETHEUS_TEXT, registry.scrape().getBytes(StandardCharsets.UTF_8));
    }

    /** 200 {@code OK} while the heartbeat comes, else 503 with the one-line reason. */
    public static Endpoint alive(Heartbeat heartbeat) {
        return () -> {
            String problem = heartbeat.problem();
            return problem == null ? Answer.text(200, "OK") : Answer.text(503, problem);
        };
    }

    /** 200 {@code OK} while the process serves, else 503 with the one-line reason. */
    public static Endpoint health(Readiness readiness) {
        return () -> {
            String problem = readiness.problem();
            return problem == null ? Answer.text(200, "OK") : Answer.text(503, problem);
        };
    }
}
