package dev.pollen.agent.api;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.task.ActiveTask;
import dev.pollen.agent.task.TaskManager;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.Semaphore;

/**
 * A landed piece's bytes read back from the task's store, for {@code Download.need_piece_content}: Dragonfly's
 * dfget {@code --transfer-from-dfdaemon} writes each piece's {@code content} at its offset itself
 * (dragonflyoss/client {@code resource/task.rs}: {@code download_from_local_into_range_reader} then
 * {@code read_exact(length)} after the piece is stored).
 */
final class PieceContent {
    /** Bytes of piece content read back for all callers together at once, in KiB (a piece is at most 64 MiB). */
    private static final int BUDGET_KIB = 256 << 10;

    private final TaskManager tasks;
    /** Bounds the heap all callers' pieces take at once, however many of them ask for content. */
    private final Semaphore budget = new Semaphore(BUDGET_KIB, true);

    PieceContent(TaskManager tasks) {
        this.tasks = tasks;
    }

    /** A piece's bytes, held against the budget until closed (once they are handed to gRPC). */
    record Bytes(ByteString content, Runnable release) implements AutoCloseable {
        @Override
        public void close() {
            release.run();
        }
    }

    /**
     * Exactly {@code piece.length()} bytes at its offset, waiting for room in the budget first; the task is leased
     * while they are read.
     */
    Bytes read(String taskId, PieceRecord piece) throws InterruptedException {
        int kib = (int) Math.max(1, (piece.length() + 1023) >> 10);
        budget.acquire(kib);
        try {
            return new Bytes(readNow(taskId, piece), () -> budget.release(kib));
        } catch (RuntimeException e) {
            budget.release(kib);
            throw e;
        }
    }

    private ByteString readNow(String taskId, PieceRecord piece) {
        ActiveTask task = null;
        try {
            task = tasks.acquireExisting(taskId);
            if (task == null) {
                throw new PollenException(ErrorCode.INTERNAL, "task " + taskId + " went away before piece " + piece.number()
                        + " could be read back for the caller");
            }
            // A piece is at most PieceLengths.MAX (64 MiB): it fits an array, and the caller sends one at a time.
            ByteBuffer bytes = ByteBuffer.allocate(Math.toIntExact(piece.length()));
            while (bytes.hasRemaining()) {
                if (task.store().content().read(bytes, piece.offset() + bytes.position()) < 0) {
                    throw new IOException("content ends before byte " + (piece.offset() + piece.length()));
                }
            }
            return UnsafeByteOperations.unsafeWrap(bytes.array());
        } catch (IOException e) {
            throw new PollenException(ErrorCode.INTERNAL, "reading piece " + piece.number() + " of task " + taskId
                    + " back for the caller failed: " + e, e);
        } finally {
            if (task != null) {
                tasks.release(task);
            }
        }
    }
}
