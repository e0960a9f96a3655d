package dev.pollen.agent.config;

import java.util.OptionalLong;

/**
 * What this node can upload, and the upload slots that follow from it. The capacity is the smaller of
 * {@code upload.bandwidth} and {@code upload.rateLimit} (bytes, so × 8) where set, else the interface's
 * link speed (a shaper is invisible there, a configured figure is not); the scheduler sees it as {@code Host.network.max_tx_bandwidth} (0: unknown). Slots are
 * {@code upload.concurrentPieceLimit} when set, else one per {@value #BITS_PER_SLOT} bits/s of capacity,
 * {@value #MIN_SLOTS}..{@value #MAX_SLOTS}, and {@value #UNKNOWN_SLOTS} when the capacity is unknown:
 * few enough that each upload runs near link speed, enough to keep the link busy across round trips.
 *
 * @param bitsPerSecond the upload capacity; 0 when nothing says
 * @param source which figure it is, for the start-up log
 */
public record UploadCapacity(long bitsPerSecond, String source, int slots) {
    /** ~15.6 MB/s per upload: a 4 MiB piece in about a quarter of a second. */
    public static final long BITS_PER_SLOT = 125_000_000L;
    public static final int MIN_SLOTS = 2;
    public static final int MAX_SLOTS = 16;
    /** Slots when the capacity is unknown: a 1 Gbit/s link's. */
    public static final int UNKNOWN_SLOTS = 8;

    public static UploadCapacity of(UploadConfig upload, OptionalLong linkBitsPerSecond) {
        long bandwidth = upload.bandwidth().bitsPerSecond();
        long rateLimit = upload.rateLimit().bytes() > Long.MAX_VALUE / 8 ? Long.MAX_VALUE : upload.rateLimit().bytes() * 8;
        long bits;
        String source;
        if (bandwidth > 0 && (rateLimit == 0 || bandwidth <= rateLimit)) {
            bits = bandwidth;
            source = "upload.bandwidth";
        } else if (rateLimit > 0) {
            bits = rateLimit;
            source = "upload.rateLimit";
        } else if (linkBitsPerSecond.isPresent()) {
            bits = linkBitsPerSecond.getAsLong();
            source = "link";
        } else {
            bits = 0;
            source = "unknown";
        }
        int slots = upload.concurrentPieceLimit() > 0 ? upload.concurrentPieceLimit() : derivedSlots(bits);
        return new UploadCapacity(bits, source, slots);
    }

    static int derivedSlots(long bitsPerSecond) {
        if (bitsPerSecond <= 0) {
            return UNKNOWN_SLOTS;
        }
        return (int) Math.max(MIN_SLOTS, Math.min(MAX_SLOTS, bitsPerSecond / BITS_PER_SLOT));
    }
}
