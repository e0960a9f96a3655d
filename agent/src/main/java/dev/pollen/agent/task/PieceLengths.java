package dev.pollen.agent.task;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.config.ByteSize;

/**
 * Dragonfly's piece length rule: the next power of two of content length / 500, clamped to
 * [4 MiB, 64 MiB], so a file has at most about 500 pieces and no piece is tiny; and the limits a
 * fixed length from a request must respect.
 */
public final class PieceLengths {
    public static final long MIN = 4L << 20;
    public static final long MAX = 64L << 20;
    /**
     * The smallest length a request may fix. Every piece costs an HTTP range request or a Vortex exchange,
     * a journal record and a scheduler report; below 64 KiB that overhead outweighs the bytes it moves.
     */
    public static final long MIN_FIXED = 64L << 10;
    /**
     * The most pieces a task may have: 1 TiB at the default (and largest) 64 MiB is 16384, so 65536 leaves
     * room for 4 TiB, or 1 TiB at a fixed 16 MiB. Per-piece state that does grow with the count (a stored
     * piece's record on the heap, ~100 B; its entry in a StatTask answer, ~40 B) stays a few MiB at this
     * cap, under the heap and gRPC's 4 MiB message limit.
     */
    public static final int MAX_PIECE_COUNT = 1 << 16;

    /** What a caller sees as the option that fixes the piece length. */
    static final String OPTION = "Download.piece_length (dfget --piece-length)";

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

    /** Refuses a fixed piece length outside [{@link #MIN_FIXED}, {@link #MAX}]. */
    static void checkFixed(long pieceLength) {
        if (pieceLength < MIN_FIXED || pieceLength > MAX) {
            throw new PollenException(ErrorCode.INVALID_ARGUMENT, OPTION + " " + ByteSize.human(pieceLength)
                    + " is out of range (expected: " + ByteSize.human(MIN_FIXED) + ".." + ByteSize.human(MAX)
                    + "; e.g. --piece-length 4MiB, or omit it for the default)");
        }
    }

    /**
     * The piece length for a task whose length the origin (or a parent) announced: the request's fixed one or
     * Dragonfly's rule, refused when the content would need more than {@link #MAX_PIECE_COUNT} pieces.
     *
     * @param fixed the request's piece length, or null
     */
    static long forTask(String url, long contentLength, Long fixed) {
        long pieceLength = fixed != null ? fixed : forContentLength(contentLength);
        if (contentLength > 0 && (contentLength - 1) / pieceLength + 1 > MAX_PIECE_COUNT) {
            long count = (contentLength - 1) / pieceLength + 1;
            String sizes = "content length " + contentLength + " (" + ByteSize.human(contentLength) + ") of " + url
                    + " needs " + count + " pieces of " + ByteSize.human(pieceLength) + ", more than the " + MAX_PIECE_COUNT
                    + " a task may have";
            if (fixed != null && contentLength <= MAX * MAX_PIECE_COUNT) {
                long least = Math.min(MAX, Long.highestOneBit((contentLength - 1) / MAX_PIECE_COUNT) << 1);
                throw new PollenException(ErrorCode.INVALID_ARGUMENT, sizes + " (fix: raise " + OPTION + " to at least "
                        + ByteSize.human(least) + ", or omit it)");
            }
            throw new PollenException(ErrorCode.INVALID_ARGUMENT, sizes + " (the largest task is "
                    + ByteSize.human(MAX * MAX_PIECE_COUNT) + ")");
        }
        return pieceLength;
    }

    /**
     * Refuses piece {@code number} of a stream whose length the origin did not tell (chunked): it ends the
     * stream once it runs past {@link #MAX_PIECE_COUNT} pieces, which a known length is refused for up front.
     */
    static void checkStreamed(String url, int number, long pieceLength) {
        if (number >= MAX_PIECE_COUNT) {
            throw new PollenException(ErrorCode.INVALID_ARGUMENT, "the origin's stream of " + url + " runs past "
                    + MAX_PIECE_COUNT + " pieces of " + ByteSize.human(pieceLength) + " (" + ByteSize.human(MAX_PIECE_COUNT * pieceLength)
                    + "), more than a task may have (fix: raise " + OPTION + ", up to " + ByteSize.human(MAX) + ")");
        }
    }
}
