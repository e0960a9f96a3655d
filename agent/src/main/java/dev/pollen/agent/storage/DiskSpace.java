package dev.pollen.agent.storage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * How much room the filesystem holding a path has: the {@link java.nio.file.FileStore} in production,
 * a fake in tests (a full disk is hard to make on demand). Asking the filesystem is how a failed write
 * is told to be a full disk: Java has no exception type for ENOSPC, and its message text is not a contract.
 */
public interface DiskSpace {
    /** The filesystem's own answer. */
    DiskSpace FILE_STORE = new DiskSpace() {
        @Override
        public long usableBytes(Path path) throws IOException {
            return Files.getFileStore(path).getUsableSpace();
        }

        @Override
        public long totalBytes(Path path) throws IOException {
            return Files.getFileStore(path).getTotalSpace();
        }
    };

    /** Room a filesystem keeps for its own metadata; a write can fail for want of space with this much still "free". */
    long FULL_MARGIN = 1 << 20;

    /** Whether a write of {@code bytesWanted} there failed for want of space; false when the filesystem cannot say. */
    default boolean isFull(Path path, long bytesWanted) {
        try {
            return usableBytes(path) <= bytesWanted + FULL_MARGIN;
        } catch (IOException unknown) {
            return false;
        }
    }

    /** Bytes this process may still write there. */
    long usableBytes(Path path) throws IOException;

    /** The filesystem's size. */
    long totalBytes(Path path) throws IOException;
}
