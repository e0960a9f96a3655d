package dev.pollen.agent.peer;

import dev.pollen.agent.storage.TaskMetadata;

/**
 * Where a piece must land and how long it may be, from the local task's own metadata: a parent's
 * PieceContent is checked against this before a single byte is written.
 *
 * @param exact whether the length is known exactly (content length known) or only bounded by the piece length
 */
record ExpectedPiece(int number, long offset, long length, boolean exact) {

    static ExpectedPiece of(TaskMetadata meta, int number) {
        if (number < 0) {
            throw new IllegalArgumentException("piece number " + number + " (expected: 0 or more)");
        }
        long offset = (long) number * meta.pieceLength();
        if (!meta.lengthKnown()) {
            return new ExpectedPiece(number, offset, meta.pieceLength(), false);
        }
        if (number >= meta.pieceCount()) {
            throw new IllegalArgumentException("piece " + number + " of task " + meta.taskId() + " does not exist (expected: 0.."
                    + (meta.pieceCount() - 1) + ")");
        }
        return new ExpectedPiece(number, offset, Math.min(meta.pieceLength(), meta.contentLength() - offset), true);
    }

    boolean accepts(long announcedLength) {
        return exact ? announcedLength == length : announcedLength <= length;
    }
}
