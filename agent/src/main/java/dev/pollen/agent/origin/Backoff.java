package dev.pollen.agent.origin;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/** Exponential backoff with full jitter, capped, so retrying peers do not hit an origin in lockstep. */
public final class Backoff {
    private static final Duration CAP = Duration.ofSeconds(5);

    private final Duration base;

    public Backoff(Duration base) {
        this.base = base;
    }

    /** The pause before retry {@code attempt} (1-based). */
    public Duration delay(int attempt) {
        long ceiling = Math.min(CAP.toMillis(), base.toMillis() << Math.min(attempt - 1, 16));
        return Duration.ofMillis(ThreadLocalRandom.current().nextLong(ceiling / 2, ceiling + 1));
    }

    public void pause(int attempt) throws InterruptedException {
        Thread.sleep(delay(attempt));
    }
}
