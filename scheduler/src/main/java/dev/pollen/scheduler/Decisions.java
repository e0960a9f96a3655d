package dev.pollen.scheduler;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Every decision answered to a peer, counted by result ({@code pollen_scheduler_decisions_total}), with the
 * back-to-source grants among them ({@code pollen_scheduler_back_to_source_grants_total}); a decision answered at
 * once is also timed, for the histogram {@code pollen_scheduler_decision_duration_seconds} and the per-interval
 * {@link DecisionLatency} log line. A held peer's eventual answer is counted but not timed: its wait is not the
 * scheduler's work.
 */
final class Decisions {
    /** Decisions take microseconds; a few hundred milliseconds means the cluster lock is contended. */
    private static final List<Duration> BUCKETS = List.of(Duration.ofNanos(50_000), Duration.ofNanos(100_000),
            Duration.ofNanos(250_000), Duration.ofNanos(500_000), Duration.ofMillis(1), Duration.ofNanos(2_500_000),
            Duration.ofMillis(5), Duration.ofMillis(10), Duration.ofMillis(25), Duration.ofMillis(50), Duration.ofMillis(100),
            Duration.ofMillis(250), Duration.ofSeconds(1));

    private final MeterRegistry registry;
    private final DecisionLatency latency = new DecisionLatency();
    private final Counter grants;
    private final Timer timer;

    Decisions(MeterRegistry registry) {
        this.registry = registry;
        this.grants = Counter.builder("pollen.scheduler.back.to.source.grants")
                .description("Peers sent to the origin (NeedBackToSource answers)").register(registry);
        this.timer = Timer.builder("pollen.scheduler.decision.duration").serviceLevelObjectives(BUCKETS.toArray(Duration[]::new))
                .description("How long a RegisterPeer or ReschedulePeer took to decide inside the scheduler").register(registry);
        for (String result : List.of("parents", "back_to_source", "empty", "metadata_only")) {
            counter(result);
        }
    }

    /** Records nothing but the latency log's window: for services built without a server around them. */
    static Decisions unregistered() {
        return new Decisions(new CompositeMeterRegistry());
    }

    /** A decision answered at once, {@code nanos} after its message reached the service. */
    void decided(Cluster.Decision d, long nanos) {
        answered(d);
        timer.record(nanos, TimeUnit.NANOSECONDS);
        latency.record(nanos);
    }

    /** A decision answered to a peer (held ones too, when their hold ends). */
    void answered(Cluster.Decision d) {
        counter(result(d)).increment();
        if (d instanceof Cluster.Decision.BackToSource) {
            grants.increment();
        }
    }

    /** The latency log's figures since the last call (null when nothing was decided). */
    DecisionLatency.Window takeWindow() {
        return latency.takeWindow();
    }

    private Counter counter(String result) {
        return Counter.builder("pollen.scheduler.decisions").tag("result", result).description("Decisions answered to peers, by result")
                .register(registry);
    }

    private static String result(Cluster.Decision d) {
        return switch (d) {
            case Cluster.Decision.Parents p -> "parents";
            case Cluster.Decision.BackToSource b -> "back_to_source";
            case Cluster.Decision.Empty e -> "empty";
            case Cluster.Decision.MetadataOnly m -> "metadata_only";
            case Cluster.Decision.Held h -> throw new IllegalStateException("a held peer has no answer yet");
        };
    }
}
