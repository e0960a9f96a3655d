package dev.pollen.agent.task;

/**
 * Dragonfly's piece length rule: the next power of two of content length / 500, clamped to
 * [4 MiB, 64 MiB], so a file has at most about 500 pieces and no piece is tiny.
 */
public final class PieceLengths {
    public static final long MIN = 4L << 20;
    public static final long MAX = 64L << 20;

    private PieceLengths() {
    }

    /** For a known length; an unknown length (-1) gets the minimum. */
    public static long forContentLength(long contentLength) {
        if (contentLength <= 0) {
            return MIN;
        }
        long target = contentLength / 500;
        long pow2 = target <= 1 ? 1 : Long.highestOneBit(target - 1) << 1;
        return Math.max(MIN, Math.min(MAX, pow2));
    }
}
