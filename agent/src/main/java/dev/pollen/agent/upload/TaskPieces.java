package dev.pollen.agent.upload;

import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.task.ActiveTask;
import dev.pollen.agent.task.TaskManager;
import dev.pollen.agent.upload.vortex.PieceLease;
import dev.pollen.agent.upload.vortex.UploadPieces;
import dev.pollen.agent.vortex.VortexException;
import dev.pollen.agent.vortex.VortexException.Reason;
import dev.pollen.policy.SuperSeeding;
import java.io.IOException;

/**
 * The Vortex server's view of pieces, through the task manager: a task being downloaded is served from
 * the same open task that records its pieces, and a lease keeps the task from being evicted mid-send.
 */
public final class TaskPieces implements UploadPieces {
    private final TaskManager tasks;
    private final SuperSeeding superSeeding;

    public TaskPieces(TaskManager tasks, SuperSeeding superSeeding) {
        this.tasks = tasks;
        this.superSeeding = superSeeding;
    }

    @Override
    public void sent(String taskId, int number) {
        superSeeding.sent(taskId, number);
    }

    @Override
    public PieceLease lease(String taskId, int number) throws VortexException {
        ActiveTask task;
        try {
            task = tasks.acquireExisting(taskId);
        } catch (IOException | RuntimeException e) {
            throw new VortexException(Reason.TASK_NOT_FOUND, "task " + taskId + " is not available here: " + e.getMessage(), e);
        }
        if (task == null) {
            throw UploadPieces.notFound(Reason.TASK_NOT_FOUND, taskId, number);
        }
        PieceRecord piece = task.store().piece(number);
        if (piece == null) {
            tasks.release(task);
            throw UploadPieces.notFound(Reason.PIECE_NOT_FOUND, taskId, number);
        }
        return new PieceLease(piece, task.store().content(), () -> tasks.release(task));
    }
}
