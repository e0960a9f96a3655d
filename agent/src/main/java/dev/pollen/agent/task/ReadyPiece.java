package dev.pollen.agent.task;

import dev.pollen.agent.storage.PieceRecord;

/** A piece that is on disk and checked, and where it came from. */
public record ReadyPiece(PieceRecord record, PieceOrigin origin) {
}
