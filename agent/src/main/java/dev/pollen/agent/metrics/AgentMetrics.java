package dev.pollen.agent.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.IntSupplier;
import java.util.function.LongSupplier;

/**
 * What the agent counts, under Prometheus names (Micrometer's names map to them: {@code pollen.download.bytes} with
 * unit bytes is {@code pollen_download_bytes_total}). One instance per daemon, made by the composition root around
 * the registry it serves; tests pass their own registry. Labels take a few fixed values each (sources, results,
 * reasons, routes, status codes): never a url or a task id, whose number grows without bound.
 */
public final class AgentMetrics {
    /** Download durations: a small file from the cache takes milliseconds, a large one from the origin minutes. */
    private static final Duration[] DOWNLOAD_BUCKETS = seconds(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600);
    /** Piece latencies: from a parent on the same rack in a millisecond, from a slow origin in tens of seconds. */
    private static final Duration[] PIECE_BUCKETS = seconds(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60);

    private final MeterRegistry registry;
    /** Gauges and function counters keep only weak references to what they read: held here for the daemon's life. */
    private final List<Object> read = new CopyOnWriteArrayList<>();

    public AgentMetrics(MeterRegistry registry) {
        this.registry = registry;
        // Present at 0 from the start: rate() and increase() over the first download, and alerts on failures, need them.
        for (String source : List.of("origin", "peer", "local")) {
            downloadBytes(source);
        }
        for (String source : List.of("origin", "peer")) {
            pieces(source);
        }
        downloads("success");
        downloads("failure");
    }

    /** Records nothing: for parts built without a daemon around them. */
    public static AgentMetrics none() {
        return new AgentMetrics(new CompositeMeterRegistry());
    }

    /** A value read when scraped; a read that fails shows as NaN for that scrape. */
    @FunctionalInterface
    public interface Reading {
        double read() throws IOException;
    }

    /** Bytes a download (dfget, the mirror) received, by where each piece came from: origin, peer or local. */
    public void downloaded(String source, long bytes) {
        downloadBytes(source).increment(bytes);
    }

    private Counter downloadBytes(String source) {
        return Counter.builder("pollen.download.bytes").baseUnit("bytes").tag("source", source)
                .description("Bytes delivered to downloads, by where each piece came from").register(registry);
    }

    /** One download ended: success, or failure (errors and callers that went away). */
    public void downloadEnded(boolean success, long nanos) {
        String result = success ? "success" : "failure";
        downloads(result).increment();
        Timer.builder("pollen.download.duration").tag("result", result).serviceLevelObjectives(DOWNLOAD_BUCKETS)
                .description("How long downloads took, from the request to the output in place").register(registry)
                .record(nanos, TimeUnit.NANOSECONDS);
    }

    private Counter downloads(String result) {
        return Counter.builder("pollen.downloads").tag("result", result).description("Downloads that ended, by result")
                .register(registry);
    }

    /** A piece landed in this node's storage, fetched from {@code source} (origin or peer) in {@code nanos}. */
    public void pieceFetched(String source, long nanos) {
        pieces(source).increment();
        Timer.builder("pollen.piece.duration").tag("source", source).serviceLevelObjectives(PIECE_BUCKETS)
                .description("How long a piece took to fetch, by source").register(registry).record(nanos, TimeUnit.NANOSECONDS);
    }

    private Counter pieces(String source) {
        return Counter.builder("pollen.pieces").tag("source", source).description("Pieces fetched into storage, by source")
                .register(registry);
    }

    /** A task (or the rest of it) went to the origin, for the reason its {@code event=back_to_source} line names. */
    public void backToSource(String reason) {
        Counter.builder("pollen.back.to.source").tag("reason", reason).description("Fallbacks to the origin, by reason")
                .register(registry).increment();
    }

    /** GC evicted a task: {@code ttl}, {@code quota} or {@code free_space}. */
    public void evicted(String reason) {
        Counter.builder("pollen.gc.evictions").tag("reason", reason).description("Tasks evicted by the garbage collector, by reason")
                .register(registry).increment();
    }

    /** The registry mirror answered a request: its route ({@code p2p}, {@code local}, {@code pass_through}, ...) and status. */
    public void proxyRequest(String route, int status) {
        Counter.builder("pollen.proxy.requests").tag("route", route).tag("status", String.valueOf(status))
                .description("Requests the registry mirror answered, by route and status").register(registry).increment();
    }

    /** Bytes this node uploaded to peers, and pieces being sent right now. */
    public void watchUploads(LongSupplier bytes, IntSupplier active) {
        read.add(bytes);
        FunctionCounter.builder("pollen.upload.bytes", bytes, LongSupplier::getAsLong).baseUnit("bytes")
                .description("Piece bytes uploaded to peers").register(registry);
        gauge("pollen.uploads.active", null, "Pieces being uploaded right now", active::getAsInt);
    }

    /** Tasks in use by a download or an upload, and tasks on disk. */
    public void watchTasks(IntSupplier active, Reading stored) {
        gauge("pollen.tasks.active", null, "Tasks in use by a download or an upload", active::getAsInt);
        gauge("pollen.tasks.stored", null, "Tasks on disk", stored);
    }

    /** Bytes Pollen's tasks use, its quota ({@code gc.policy.diskQuota}), and the filesystem's free bytes. */
    public void watchStorage(Reading used, long quota, Reading free) {
        gauge("pollen.storage.used", "bytes", "Bytes the stored tasks occupy", used);
        gauge("pollen.storage.quota", "bytes", "gc.policy.diskQuota", () -> quota);
        gauge("pollen.storage.free", "bytes", "Bytes free on the storage filesystem", free);
    }

    /** 1 while a scheduler answered this host's last announcement, else 0 (also when none is configured). */
    public void watchScheduler(BooleanSupplier connected) {
        gauge("pollen.scheduler.connected", null, "1 while a scheduler answers this host's announcements",
                () -> connected.getAsBoolean() ? 1 : 0);
    }

    private void gauge(String name, String unit, String description, Reading reading) {
        read.add(reading);
        Gauge.builder(name, reading, AgentMetrics::readOrNaN).baseUnit(unit).description(description).register(registry);
    }

    private static double readOrNaN(Reading reading) {
        try {
            return reading.read();
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
    }

    private static Duration[] seconds(double... values) {
        Duration[] d = new Duration[values.length];
        for (int i = 0; i < values.length; i++) {
            d[i] = Duration.ofNanos((long) (values[i] * 1e9));
        }
        return d;
    }
}
