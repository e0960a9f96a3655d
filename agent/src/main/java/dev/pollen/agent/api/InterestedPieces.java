package dev.pollen.agent.api;

import dev.pollen.agent.storage.TaskMetadata;
import dev.pollen.agent.task.DownloadRequest;
import dev.pollen.agent.task.PieceSpan;
import dev.pollen.proto.common.v2.Piece;
import java.util.ArrayList;
import java.util.List;

/**
 * The pieces one DownloadTask call reports, for its started message: Dragonfly's dfget (dragonflyoss/client
 * {@code bin/dfget/main.rs}, {@code download}) keeps every piece number listed there and fails the download as
 * "download incomplete" unless each later arrives in a piece-finished message: the {@link PieceSpan} the
 * {@link dev.pollen.agent.task.Downloader} asks for.
 */
final class InterestedPieces {
    private InterestedPieces() {
    }

    /** Empty while the length is unknown: a streamed task's pieces are not known before they land. */
    static List<Piece> of(TaskMetadata meta, DownloadRequest.ByteRange range) {
        if (!meta.lengthKnown()) {
            return List.of();
        }
        PieceSpan span = PieceSpan.of(meta, range);
        List<Piece> pieces = new ArrayList<>(Math.max(0, span.last() - span.first() + 1));
        for (int n = span.first(); n <= span.last(); n++) {
            long offset = n * meta.pieceLength();
            pieces.add(Piece.newBuilder().setNumber(n).setOffset(offset)
                    .setLength(Math.min(meta.pieceLength(), meta.contentLength() - offset)).build());
        }
        return pieces;
    }
}
