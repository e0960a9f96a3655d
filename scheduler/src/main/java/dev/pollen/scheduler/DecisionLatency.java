package dev.pollen.scheduler;

import java.util.concurrent.TimeUnit;

/**
 * How long scheduling decisions take inside the scheduler: from a RegisterPeer or ReschedulePeer message
 * handed to the service to its answer handed to gRPC (queueing before the handler and the network are not
 * in it; a peer held while a seed starts is not a decision until it is answered, and is not timed).
 * Log-linear buckets (16 per power of two, so about 6% precision) in microseconds; a window is read and
 * reset at once, so each logged line covers only its own interval.
 */
final class DecisionLatency {
    private static final int SUB_BUCKETS = 16;
    private static final int POWERS = 40;

    /** Decisions and percentiles of one window, in microseconds. */
    record Window(long decisions, long p50Micros, long p99Micros, long maxMicros) {
    }

    private long[] counts = new long[POWERS * SUB_BUCKETS];
    private long total;
    private long maxMicros;

    synchronized void record(long nanos) {
        long micros = Math.max(0, TimeUnit.NANOSECONDS.toMicros(nanos));
        counts[bucket(micros)]++;
        total++;
        maxMicros = Math.max(maxMicros, micros);
    }

    /** This window's figures (null when no decision was made), and a new window from now. */
    synchronized Window takeWindow() {
        if (total == 0) {
            return null;
        }
        Window w = new Window(total, percentile(0.50), percentile(0.99), maxMicros);
        counts = new long[counts.length];
        total = 0;
        maxMicros = 0;
        return w;
    }

    private long percentile(double q) {
        long rank = (long) Math.ceil(q * total);
        long seen = 0;
        for (int i = 0; i < counts.length; i++) {
            seen += counts[i];
            if (seen >= rank) {
                return Math.min(upperBound(i), maxMicros);
            }
        }
        return maxMicros;
    }

    /** Values below 16 get a bucket each; above, 16 buckets per power of two. */
    static int bucket(long micros) {
        if (micros < SUB_BUCKETS) {
            return (int) micros;
        }
        int power = 63 - Long.numberOfLeadingZeros(micros);
        int sub = (int) ((micros >>> (power - 4)) & (SUB_BUCKETS - 1));
        return Math.min(POWERS * SUB_BUCKETS - 1, (power - 3) * SUB_BUCKETS + sub);
    }

    /** The largest value that falls in bucket {@code index}. */
    static long upperBound(int index) {
        if (index < SUB_BUCKETS) {
            return index;
        }
        int power = index / SUB_BUCKETS + 3;
        int sub = index % SUB_BUCKETS;
        return ((long) (SUB_BUCKETS + sub + 1) << (power - 4)) - 1;
    }
}
