package dev.pollen.agent.upload.vortex;

import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Bytes uploaded per second over the last {@value #WINDOW_SECONDS} whole seconds, in one-second buckets:
 * the {@code tx_bandwidth} the scheduler sees. Pieces count when their last byte is handed to the socket.
 */
final class UploadMeter {
    static final int WINDOW_SECONDS = 5;

    private final LongSupplier nanos;
    /** Bucket i holds second {@code seconds[i]}; one extra bucket for the second under way. */
    private final long[] seconds = new long[WINDOW_SECONDS + 1];
    private final long[] bytes = new long[WINDOW_SECONDS + 1];

    /** @param nanos a monotonic clock ({@code System::nanoTime}) */
    UploadMeter(LongSupplier nanos) {
        this.nanos = nanos;
        java.util.Arrays.fill(seconds, Long.MIN_VALUE);
    }

    synchronized void add(long count) {
        long now = second();
        int i = (int) Math.floorMod(now, (long) seconds.length);
        if (seconds[i] != now) {
            seconds[i] = now;
            bytes[i] = 0;
        }
        bytes[i] += count;
    }

    /** Bytes per second over the last whole seconds (the one under way is left out: it is still filling). */
    synchronized long bytesPerSecond() {
        long now = second();
        long sum = 0;
        for (int i = 0; i < seconds.length; i++) {
            if (seconds[i] < now && seconds[i] >= now - WINDOW_SECONDS) {
                sum += bytes[i];
            }
        }
        return sum / WINDOW_SECONDS;
    }

    private long second() {
        return TimeUnit.NANOSECONDS.toSeconds(nanos.getAsLong());
    }
}
