package dev.pollen.agent.cli;

import io.grpc.Context;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Cancels a download call when the daemon has sent nothing for {@code limit}, so a wedged daemon cannot keep
 * dfget (and the script that runs it) waiting forever. The whole download has no deadline unless --timeout
 * gives one: a big file may take hours, but no healthy daemon goes minutes without a piece or a retry ending.
 */
final class StallWatch implements AutoCloseable {
    /** The cause the call is cancelled with, so dfget tells a stall from other cancellations. */
    static final class Stalled extends Exception {
        Stalled(Duration limit) {
            super("no message from the daemon for " + limit, null, false, false);
        }
    }

    private final long limitNanos;
    private final ScheduledExecutorService timer;
    private volatile long lastNanos = System.nanoTime();

    /** Watches {@code call} from now on; a zero limit watches nothing. */
    StallWatch(Duration limit, Context.CancellableContext call) {
        limitNanos = limit.toNanos();
        timer = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().name("dfget-stall").daemon().factory());
        if (limitNanos > 0) {
            // Checked ten times per limit (at most once a second): the stall is noticed within a tenth of it.
            long period = Math.clamp(limit.toMillis() / 10, 10, 1000);
            timer.scheduleAtFixedRate(() -> {
                if (System.nanoTime() - lastNanos > limitNanos) {
                    call.cancel(new Stalled(limit));
                }
            }, period, period, TimeUnit.MILLISECONDS);
        }
    }

    /** The daemon said something: the download is alive. */
    void progress() {
        lastNanos = System.nanoTime();
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
