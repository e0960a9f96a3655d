package dev.pollen.monitoring;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Liveness: a thread that must run every few seconds (housekeeping) beats; once no beat came for {@code limit} the
 * process is wedged (a deadlock, a starved or dead timer) and only a restart helps. Unlike {@link Readiness} it says
 * nothing of starting, stopping or storage: a probe restarting a process for those would only make things worse.
 */
public final class Heartbeat {
    private final Duration limit;
    private final LongSupplier nanos;
    private volatile long last;

    public Heartbeat(Duration limit) {
        this(limit, System::nanoTime);
    }

    /** @param nanos a monotonic clock ({@code System::nanoTime}) */
    Heartbeat(Duration limit, LongSupplier nanos) {
        this.limit = limit;
        this.nanos = nanos;
        this.last = nanos.getAsLong();
    }

    public void beat() {
        last = nanos.getAsLong();
    }

    /** Null while beats come, else the one line {@code /livez} answers. */
    public String problem() {
        long silent = nanos.getAsLong() - last;
        if (silent <= limit.toNanos()) {
            return null;
        }
        return "no heartbeat for " + TimeUnit.NANOSECONDS.toSeconds(silent) + " s (limit " + limit.toSeconds()
                + " s): the process is wedged (fix: restart it, and report its thread dump: jstack PID)";
    }
}
