package dev.pollen.agent.storage;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.config.ByteSize;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Names a failure to write local storage for the user: {@link ErrorCode#NO_SPACE} when the storage
 * filesystem is full, else a local storage error. "Full" is asked of the filesystem after the failure
 * (less room left than the failed write wanted, plus a margin for the filesystem's own blocks), never
 * read from the exception's message.
 */
public final class LocalStorageError {
    private LocalStorageError() {
    }

    /**
     * @param what what was being written, for the message ("piece 3 of task …")
     * @param file a path on the storage filesystem
     * @param bytesWanted bytes the failed write tried to place, 0 if unknown
     */
    public static PollenException of(String what, Path file, long bytesWanted, IOException cause) {
        return of(what, file, bytesWanted, cause, DiskSpace.FILE_STORE);
    }

    static PollenException of(String what, Path file, long bytesWanted, IOException cause, DiskSpace space) {
        Throwable reason = cause instanceof LocalWriteException && cause.getCause() != null ? cause.getCause() : cause;
        long usable;
        try {
            usable = space.usableBytes(file);
        } catch (IOException unknown) {
            usable = -1;
        }
        if (usable >= 0 && usable <= bytesWanted + DiskSpace.FULL_MARGIN) {
            return new PollenException(ErrorCode.NO_SPACE, "no space left on the storage filesystem of " + file.getParent()
                    + " while writing " + what + " (" + ByteSize.human(usable) + " free; fix: free space there, lower "
                    + "gc.policy.diskQuota or raise gc.policy.minFreeSpace, or point storage.dir at a larger disk)", cause);
        }
        return new PollenException(ErrorCode.INTERNAL, "local storage error while writing " + what + " to " + file + ": "
                + reason + " (the origin and the peers are not at fault; check the disk under storage.dir)", cause);
    }
}
