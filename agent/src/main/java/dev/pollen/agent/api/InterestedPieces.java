package dev.pollen.agent.api;

import dev.pollen.agent.storage.TaskMetadata;
import dev.pollen.agent.task.DownloadRequest;
import dev.pollen.proto.common.v2.Piece;
import java.util.ArrayList;
import java.util.List;

/**
 * The pieces one DownloadTask call reports, for its started message: Dragonfly's dfget (dragonflyoss/client
 * {@code bin/dfget/main.rs}, {@code download}) keeps every piece number listed there and fails the download as
 * "download incomplete" unless each later arrives in a piece-finished message. The same span as the
 * {@link dev.pollen.agent.task.Downloader} asks for: every piece that overlaps the range, or all of them.
 */
final class InterestedPieces {
    private InterestedPieces() {
    }

    /** Empty while the length is unknown: a streamed task's pieces are not known before they land. */
    static List<Piece> of(TaskMetadata meta, DownloadRequest.ByteRange range) {
        if (!meta.lengthKnown()) {
            return List.of();
        }
        int first = 0;
        int last = meta.pieceCount() - 1;
        if (range != null && meta.contentLength() > 0) {
            long end = Math.min(meta.contentLength(), range.start() + range.length()) - 1;
            first = (int) Math.min(range.start() / meta.pieceLength(), meta.pieceCount());
            last = end < range.start() ? first - 1 : (int) (end / meta.pieceLength());
        }
        List<Piece> pieces = new ArrayList<>(Math.max(0, last - first + 1));
        for (int n = first; n <= last; n++) {
            long offset = n * meta.pieceLength();
            pieces.add(Piece.newBuilder().setNumber(n).setOffset(offset)
                    .setLength(Math.min(meta.pieceLength(), meta.contentLength() - offset)).build());
        }
        return pieces;
    }
}
