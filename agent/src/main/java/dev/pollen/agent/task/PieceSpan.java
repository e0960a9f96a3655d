package dev.pollen.agent.task;

import dev.pollen.agent.storage.TaskMetadata;

/**
 * The pieces one download reports, first to last inclusive: every piece that overlaps its range, or all of them.
 * Both what the {@link Downloader} asks for and what the local API announces in its started message come from here
 * (Dragonfly's dfget fails "download incomplete" unless the two agree).
 */
public record PieceSpan(int first, int last) {
    /** The span of a task whose length is known; empty ({@code last < first}) when the range covers no byte. */
    public static PieceSpan of(TaskMetadata meta, DownloadRequest.ByteRange range) {
        int first = 0;
        int last = meta.pieceCount() - 1;
        if (range != null && meta.contentLength() > 0) {
            long end = Math.min(meta.contentLength(), range.start() + range.length()) - 1;
            first = (int) Math.min(range.start() / meta.pieceLength(), meta.pieceCount());
            last = end < range.start() ? first - 1 : (int) (end / meta.pieceLength());
        }
        return new PieceSpan(first, last);
    }
}
