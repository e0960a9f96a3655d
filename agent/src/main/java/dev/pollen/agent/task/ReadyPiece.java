package dev.pollen.agent.task;

import dev.pollen.agent.storage.PieceRecord;
import java.time.Duration;
import java.time.Instant;

/**
 * A piece that is on disk and checked, where it came from, and when: Dragonfly reports every piece with the
 * peer that served it (none for the origin or the local cache), when its download began and what it cost.
 *
 * @param parentId the parent's peer id for a piece from a parent, else empty
 */
public record ReadyPiece(PieceRecord record, PieceOrigin origin, String parentId, Instant createdAt, Duration cost) {
    /** A piece that was already on disk: nothing was fetched, so it cost nothing. */
    static ReadyPiece local(PieceRecord record, Instant now) {
        return new ReadyPiece(record, PieceOrigin.LOCAL_PEER, "", now, Duration.ZERO);
    }
}
