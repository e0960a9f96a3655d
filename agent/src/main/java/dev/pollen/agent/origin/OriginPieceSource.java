package dev.pollen.agent.origin;

import dev.pollen.agent.storage.LocalStorageError;
import dev.pollen.agent.storage.LocalWriteException;
import dev.pollen.agent.storage.PieceWriter;
import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.storage.TaskMetadata;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * Pieces from the origin by HTTP range requests, each retried on its own; a failure to write one
 * locally ends the fetch at once (see {@link LocalStorageError}).
 */
public final class OriginPieceSource implements PieceSource {
    private final OriginClient origin;

    public OriginPieceSource(OriginClient origin) {
        this.origin = origin;
    }

    @Override
    public PieceRecord fetch(Target target, int number) throws RangeIgnoredException {
        TaskMetadata meta = target.store().metadata();
        long offset = number * meta.pieceLength();
        long length = Math.min(meta.pieceLength(), meta.contentLength() - offset);
        try {
            return origin.withRetries(target.origin(), () -> {
                OriginResponse response = origin.range(target.origin(), target.headers(), offset, offset + length - 1);
                try (InputStream body = response.body()) {
                    if (!response.partial()) {
                        throw new RangeIgnoredSignal(new RangeIgnoredException(response.uri()));
                    }
                    if (response.totalLength() != meta.contentLength()) {
                        throw new PollenException(ErrorCode.ORIGIN_STATUS, "origin content of " + target.origin()
                                + " changed length from " + meta.contentLength() + " to " + response.totalLength()
                                + " during the download; retry to fetch the new content");
                    }
                    try {
                        PieceWriter.Written w = PieceWriter.writeExactly(body, target.store().content(), offset, length);
                        PieceRecord record = new PieceRecord(number, offset, length, w.crc32());
                        PieceWriter.record(target.store(), record);
                        return record;
                    } catch (LocalWriteException e) {
                        // Ours, not the origin's: no retry, and the user hears of the disk.
                        throw LocalStorageError.of("piece " + number + " of task " + target.store().taskId(),
                                target.store().contentPath(), e.bytesWanted(), e);
                    }
                }
            });
        } catch (RangeIgnoredSignal s) {
            throw s.cause;
        }
    }

    /** Carries the checked exception through the retry loop, which must not retry it. */
    private static final class RangeIgnoredSignal extends UncheckedIOException {
        private final RangeIgnoredException cause;

        RangeIgnoredSignal(RangeIgnoredException cause) {
            super(new IOException(cause.getMessage()));
            this.cause = cause;
        }
    }
}
