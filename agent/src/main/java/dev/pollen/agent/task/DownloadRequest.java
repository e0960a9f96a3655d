package dev.pollen.agent.task;

import dev.pollen.agent.storage.ContentDigest;
import java.nio.file.Path;

/**
 * One caller's download: the task, and what this caller wants of it.
 *
 * @param range bytes wanted, or null for the whole content
 * @param digest the expected whole-file digest, or null
 * @param output where to put the file, or null to only store it (a seed peer's prefetch)
 */
public record DownloadRequest(
        TaskSpec spec,
        ByteRange range,
        ContentDigest digest,
        Path output,
        boolean overwrite,
        boolean forceHardLink,
        boolean backToSourceAllowed) {

    /** An inclusive-start byte range: {@code length} bytes from {@code start}. */
    public record ByteRange(long start, long length) {
        public ByteRange {
            if (start < 0 || length < 0) {
                throw new dev.pollen.agent.error.PollenException(dev.pollen.agent.error.ErrorCode.INVALID_ARGUMENT,
                        "invalid range start=" + start + " length=" + length);
            }
        }
    }
}
