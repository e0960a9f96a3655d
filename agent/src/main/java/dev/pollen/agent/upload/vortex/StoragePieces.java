package dev.pollen.agent.upload.vortex;

import dev.pollen.agent.vortex.VortexException;
import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.storage.StoredTask;
import dev.pollen.agent.vortex.VortexException.Reason;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Pieces straight from the task store: each task is opened once, on its first request, and kept open
 * until {@link #close()}. Pieces recorded later through another handle on the same task are not seen,
 * so the daemon uses the task manager's view instead; this suits tests and a read-only seed.
 */
public final class StoragePieces implements UploadPieces, AutoCloseable {
    private final Storage storage;
    private final Map<String, StoredTask> open = new HashMap<>();
    private boolean closed;

    public StoragePieces(Storage storage) {
        this.storage = storage;
    }

    @Override
    public PieceLease lease(String taskId, int number) throws VortexException {
        StoredTask task = task(taskId);
        if (task == null) {
            throw UploadPieces.notFound(Reason.TASK_NOT_FOUND, taskId, number);
        }
        PieceRecord piece = task.piece(number);
        if (piece == null) {
            throw UploadPieces.notFound(Reason.PIECE_NOT_FOUND, taskId, number);
        }
        return new PieceLease(piece, task.content(), () -> { });
    }

    /** The open task, or null when it is not stored here. */
    private synchronized StoredTask task(String taskId) throws VortexException {
        if (closed) {
            throw new VortexException(Reason.INTERNAL, "the piece store is closed");
        }
        StoredTask task = open.get(taskId);
        if (task != null) {
            return task;
        }
        try {
            task = storage.open(taskId);
        } catch (IOException | RuntimeException e) {
            throw new VortexException(Reason.INTERNAL, "cannot open task " + taskId + ": " + e.getMessage(), e);
        }
        if (task != null) {
            open.put(taskId, task);
        }
        return task;
    }

    @Override
    public void close() throws IOException {
        List<StoredTask> tasks;
        synchronized (this) {
            closed = true;
            tasks = new ArrayList<>(open.values());
            open.clear();
        }
        IOException failure = null;
        for (StoredTask task : tasks) {
            try {
                task.close();
            } catch (IOException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }
}
