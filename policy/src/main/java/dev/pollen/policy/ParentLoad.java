package dev.pollen.policy;

import java.time.Duration;

/**
 * What one parent delivers to this task, and how many requests it is given at once because of it. The
 * window starts at {@value #INITIAL} and grows by one while the parent's throughput (bytes over the time it
 * had requests of ours, measured over a window's worth of pieces) grows with it; it halves when the parent
 * says it is busy or a piece from it is given up on: additive increase, multiplicative decrease, per parent.
 * The parent's own recent time per byte is what a piece from it is judged slow against, so a parent whose
 * uplink is shared by many children is not dropped for being slower than another. Not thread-safe: the
 * caller's lock guards it (the agent's ParentSet). Times are {@link System#nanoTime} values passed in.
 */
public final class ParentLoad {
    public static final int INITIAL = 2;
    /** A piece that takes this many times its parent's own recent pace is given up on (see {@link #slowLimitNanos}). */
    public static final int SLOW_FACTOR = 4;
    /** A piece is never given up on as slow before this (short pieces on a busy link are not punished). */
    public static final Duration SLOW_FLOOR = Duration.ofSeconds(2);
    /**
     * How long a parent that answered busy is not asked again: two of its {@code upload.slotWait} (50 ms), since its
     * line serves its least-sent pieces first and a slot frees within a piece's time. 200 ms until session 10 (the
     * simulator at 1,000 nodes: p99 1.58 / 1.63 x the limit at 200 ms, 1.56 / 1.58 x at 100 ms, 1.58 x at 50 ms).
     */
    public static final Duration BUSY_BACKOFF = Duration.ofMillis(100);
    public static final int MAX = 16;
    /** A window's throughput must beat the one before by this much to count as growth (noise is not). */
    private static final double GROWTH = 1.10;
    /** Weight of the newest piece in the time-per-byte average. */
    private static final double RECENT_WEIGHT = 0.3;
    /** Pieces measured before the parent's own pace is trusted as its expectation. */
    private static final int TRUSTED_SAMPLES = 2;

    private int limit = INITIAL;
    private int inFlight;
    /** When requests of ours began to be outstanding at this parent without a break; -1 while none is. */
    private long busySince = -1;
    private long epochBusyNanos;
    private long epochBytes;
    private int epochPieces;
    /** Bytes per second over the last complete window of pieces; 0 until there is one (or after a decrease). */
    private double lastRate;
    private double nanosPerByte;
    private int samples;
    private long backoffUntil;
    private boolean backingOff;

    public int limit() {
        return limit;
    }

    public int inFlight() {
        return inFlight;
    }

    /** Whether another request may go to this parent now. */
    public boolean hasRoom(long now) {
        return inFlight < limit && !backingOff(now);
    }

    public boolean backingOff(long now) {
        return backingOff && now - backoffUntil < 0;
    }

    /** When a parent that said busy may be asked again (meaningful while {@link #backingOff}). */
    public long backoffUntil() {
        return backoffUntil;
    }

    public void started(long now) {
        if (inFlight++ == 0) {
            busySince = now;
        }
    }

    /** A piece of {@code bytes} arrived after {@code tookNanos}. */
    public void succeeded(long bytes, long tookNanos, long now) {
        ended(now);
        if (bytes > 0 && tookNanos > 0) {
            double perByte = (double) tookNanos / bytes;
            nanosPerByte = samples == 0 ? perByte : (1 - RECENT_WEIGHT) * nanosPerByte + RECENT_WEIGHT * perByte;
            samples++;
        }
        epochBytes += bytes;
        if (++epochPieces >= limit) {
            long busy = epochBusyNanos + (busySince >= 0 ? now - busySince : 0);
            if (busy > 0) {
                double rate = epochBytes * 1e9 / busy;
                // The first window (or the first after a decrease) always probes one more.
                if (rate > lastRate * GROWTH && limit < MAX) {
                    limit++;
                }
                lastRate = rate;
            }
            epochBytes = 0;
            epochPieces = 0;
            epochBusyNanos = 0;
            if (busySince >= 0) {
                busySince = now;
            }
        }
    }

    /** A request that ended without a piece and without saying anything about the parent's pace. */
    public void ended(long now) {
        if (--inFlight == 0 && busySince >= 0) {
            epochBusyNanos += now - busySince;
            busySince = -1;
        }
    }

    /** The parent is out of upload slots: fewer requests, and none for {@code backoffNanos}. */
    public void busy(long now, long backoffNanos) {
        ended(now);
        decrease();
        backingOff = true;
        backoffUntil = now + backoffNanos;
    }

    /** A piece from the parent took far longer than its own recent pace. */
    public void slow(long now) {
        ended(now);
        decrease();
    }

    private void decrease() {
        limit = Math.max(1, limit / 2);
        lastRate = 0;
        epochBytes = 0;
        epochPieces = 0;
    }

    /** How long {@code bytes} take from this parent at its recent pace; 0 until a few pieces have shown it. */
    public long expectedNanos(long bytes) {
        return samples < TRUSTED_SAMPLES ? 0 : (long) (nanosPerByte * bytes);
    }

    /**
     * How long a piece of {@code bytes} from this parent may take: {@link #SLOW_FACTOR} times the parent's own
     * recent pace once it has one (at least {@code slowFloorNanos}), but the full piece timeout while no other
     * usable parent holds that piece (slow beats none; a seed that alone has the newest pieces is never dropped for
     * being busy).
     *
     * @param alternatives whether another usable parent holds the piece
     */
    public long slowLimitNanos(long bytes, boolean alternatives, long pieceTimeoutNanos, long slowFloorNanos) {
        long expected = expectedNanos(bytes);
        if (expected == 0 || !alternatives) {
            return pieceTimeoutNanos;
        }
        return Math.min(pieceTimeoutNanos, Math.max(slowFloorNanos, SLOW_FACTOR * expected));
    }

    /**
     * Whether this parent (a seed peer when {@code seed}) is a better one to ask for a piece than {@code other},
     * both holding it with room: any peer before a seed, whose uplink is the one every child of the task shares
     * while the pieces are new; then the one that would deliver most ({@link #score}); then the one with fewer of
     * our requests.
     */
    public boolean beats(boolean seed, ParentLoad other, boolean otherSeed) {
        if (seed != otherSeed) {
            return otherSeed;
        }
        double score = score();
        double otherScore = other.score();
        return score > otherScore || (score == otherScore && inFlight < other.inFlight);
    }

    /**
     * How much this parent would deliver with one more request of ours: its throughput times the share of
     * its window still free. A parent not measured yet scores highest, so every parent is tried.
     */
    public double score() {
        double rate = lastRate > 0 ? lastRate : samples > 0 ? 1e9 / nanosPerByte * Math.max(1, inFlight) : Double.MAX_VALUE;
        return rate == Double.MAX_VALUE ? rate : rate * (limit - inFlight) / limit;
    }
}
