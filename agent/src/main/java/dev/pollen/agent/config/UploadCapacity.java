package dev.pollen.agent.config;

import dev.pollen.policy.UploadSlots;
import java.util.OptionalLong;

/**
 * What this node can upload, and the upload slots that follow from it. The capacity is the smaller of
 * {@code upload.bandwidth} and {@code upload.rateLimit} (bytes, so × 8) where set, else the interface's
 * link speed (a shaper is invisible there, a configured figure is not); the scheduler sees it as {@code Host.network.max_tx_bandwidth} (0: unknown). Slots are
 * {@code upload.concurrentPieceLimit} when set, else derived from the capacity ({@link UploadSlots#forCapacity}).
 *
 * @param bitsPerSecond the upload capacity; 0 when nothing says
 * @param source which figure it is, for the start-up log
 */
public record UploadCapacity(long bitsPerSecond, String source, int slots) {
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
        int slots = upload.concurrentPieceLimit() > 0 ? upload.concurrentPieceLimit() : UploadSlots.forCapacity(bits);
        return new UploadCapacity(bits, source, slots);
    }
}
