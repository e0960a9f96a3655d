package dev.pollen.agent.storage;

import java.time.Instant;
import java.util.List;

/**
 * A task as it stands at one moment, for answering a stat: read from the open task while it is active,
 * or from its files without opening it (which would re-check, rewrite or discard them).
 *
 * @param pieces the pieces recorded so far, in number order (of a task not open, as journaled: they are
 *     checked again when a download opens it)
 * @param lastAccess when a request last used the task
 */
public record TaskSnapshot(TaskMetadata metadata, List<PieceRecord> pieces, Instant lastAccess) {
    public TaskSnapshot {
        pieces = List.copyOf(pieces);
    }
}
