package dev.pollen.agent.storage;

import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * What a task is, as stored beside its content: enough to resume it after a crash and to answer
 * StatTask without the origin.
 *
 * @param contentLength bytes, or -1 while the origin has not told (chunked responses)
 * @param rangeSupported whether the origin answers range requests with 206, so pieces can be fetched in parallel
 * @param finished every piece is on disk, checked, and the content is synced
 * @param contentModifiedMillis the content file's mtime when its last piece was written: outputs are hard links
 *     to it, so a later mtime means someone wrote through one and the pieces must be checked again
 */
public record TaskMetadata(
        String taskId,
        String url,
        long contentLength,
        long pieceLength,
        boolean rangeSupported,
        Map<String, List<String>> responseHeaders,
        Instant createdAt,
        boolean finished,
        long contentModifiedMillis) {

    public TaskMetadata {
        responseHeaders = responseHeaders == null ? Map.of() : Map.copyOf(responseHeaders);
        // Checked here, so no stored or announced value can make pieceCount() divide by zero or wrap around.
        if (pieceLength < 1) {
            throw new IllegalArgumentException("piece length " + pieceLength + " of task " + taskId + " (expected: >= 1)");
        }
        if (contentLength > 0 && (contentLength - 1) / pieceLength + 1 > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("content length " + contentLength + " of task " + taskId + " at piece length "
                    + pieceLength + " needs more than " + Integer.MAX_VALUE + " pieces");
        }
    }

    public boolean lengthKnown() {
        return contentLength >= 0;
    }

    /** The number of pieces, or -1 while the length is unknown. */
    public int pieceCount() {
        if (!lengthKnown()) {
            return -1;
        }
        return contentLength == 0 ? 0 : (int) ((contentLength - 1) / pieceLength + 1);
    }

    /** A task in progress. */
    public static TaskMetadata started(String taskId, String url, long contentLength, long pieceLength, boolean rangeSupported,
                                       Map<String, List<String>> responseHeaders, Instant createdAt) {
        return new TaskMetadata(taskId, url, contentLength, pieceLength, rangeSupported, responseHeaders, createdAt, false, 0);
    }

    public TaskMetadata withLength(long length) {
        return new TaskMetadata(taskId, url, length, pieceLength, rangeSupported, responseHeaders, createdAt, finished,
                contentModifiedMillis);
    }

    public TaskMetadata withoutRanges() {
        return new TaskMetadata(taskId, url, contentLength, pieceLength, false, responseHeaders, createdAt, finished,
                contentModifiedMillis);
    }

    public TaskMetadata asFinished(long contentModifiedMillis) {
        return new TaskMetadata(taskId, url, contentLength, pieceLength, rangeSupported, responseHeaders, createdAt, true,
                contentModifiedMillis);
    }

    public TaskMetadata asUnfinished() {
        return new TaskMetadata(taskId, url, contentLength, pieceLength, rangeSupported, responseHeaders, createdAt, false, 0);
    }
}
