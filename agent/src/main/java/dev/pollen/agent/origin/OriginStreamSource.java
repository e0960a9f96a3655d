package dev.pollen.agent.origin;

import dev.pollen.agent.storage.LocalStorageError;
import dev.pollen.agent.storage.LocalWriteException;
import dev.pollen.agent.storage.PieceWriter;
import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.storage.StoredTask;
import dev.pollen.agent.storage.TaskMetadata;
import java.io.IOException;
import java.io.InputStream;
import java.util.function.Consumer;

/**
 * The whole content in one response, for origins that ignore ranges or do not tell the length
 * (chunked). Pieces are cut from the stream in order; a failure restarts the stream from the
 * beginning, skipping the bytes of pieces already stored. A failure to write locally ends the stream at
 * once (see {@link LocalStorageError}).
 */
public final class OriginStreamSource {
    private final OriginClient origin;

    public OriginStreamSource(OriginClient origin) {
        this.origin = origin;
    }

    /**
     * @param first a response already open on the whole content (from the probe), or null
     * @return the content length
     */
    public long streamAll(PieceSource.Target target, OriginResponse first, Consumer<PieceRecord> onPiece) {
        OriginResponse[] pending = {first};
        return origin.withRetries(target.origin(), () -> {
            OriginResponse response = pending[0] != null ? pending[0] : origin.whole(target.origin(), target.headers());
            pending[0] = null;
            try (InputStream body = response.body()) {
                return copy(target.store(), body, response.totalLength(), onPiece);
            } catch (LocalWriteException e) {
                // Ours, not the origin's: no retry, and the user hears of the disk.
                throw LocalStorageError.of("task " + target.store().taskId(), target.store().contentPath(), e.bytesWanted(), e);
            }
        });
    }

    private static long copy(StoredTask store, InputStream body, long announced, Consumer<PieceRecord> onPiece) throws IOException {
        long pieceLength = store.metadata().pieceLength();
        long offset = 0;
        for (int number = 0; ; number++) {
            PieceRecord stored = store.piece(number);
            long got;
            if (stored != null) {
                body.skipNBytes(stored.length());
                got = stored.length();
                onPiece.accept(stored);
            } else {
                PieceWriter.Written w = PieceWriter.writeUpTo(body, store.content(), offset, pieceLength);
                got = w.length();
                if (got > 0) {
                    PieceRecord record = new PieceRecord(number, offset, got, w.crc32());
                    PieceWriter.record(store, record);
                    onPiece.accept(record);
                }
            }
            offset += got;
            if (got < pieceLength) {
                return finishLength(store, announced, offset);
            }
        }
    }

    private static long finishLength(StoredTask store, long announced, long length) throws IOException {
        if (announced >= 0 && announced != length) {
            throw new java.io.EOFException("origin sent " + length + " of " + announced + " announced bytes");
        }
        TaskMetadata meta = store.metadata();
        if (meta.contentLength() != length) {
            if (meta.lengthKnown()) {
                throw new PollenException(ErrorCode.ORIGIN_STATUS, "origin content of " + meta.url()
                        + " changed length from " + meta.contentLength() + " to " + length);
            }
            try {
                store.updateMetadata(meta.withLength(length));
            } catch (IOException e) {
                throw new LocalWriteException(0, e);
            }
        }
        return length;
    }
}
