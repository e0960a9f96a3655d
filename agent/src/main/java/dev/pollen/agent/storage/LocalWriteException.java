package dev.pollen.agent.storage;

import java.io.IOException;

/**
 * Writing received bytes into local storage failed. Raised at the write site so that the failure is
 * known to be ours wherever it is caught: it is never retried against the origin nor blamed on a
 * parent. {@link LocalStorageError} turns it into the error the user sees.
 */
public final class LocalWriteException extends IOException {
    private final long bytesWanted;

    /** @param bytesWanted how many bytes the failed write tried to place (what a full disk could not take) */
    public LocalWriteException(long bytesWanted, IOException cause) {
        super("writing " + bytesWanted + " bytes to local storage failed: " + cause.getMessage(), cause);
        this.bytesWanted = bytesWanted;
    }

    public long bytesWanted() {
        return bytesWanted;
    }
}
