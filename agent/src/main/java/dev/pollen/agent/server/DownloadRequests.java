package dev.pollen.agent.server;

import dev.pollen.agent.ErrorCode;
import dev.pollen.agent.PollenException;
import dev.pollen.agent.storage.ContentDigest;
import dev.pollen.agent.task.DownloadRequest;
import dev.pollen.agent.task.TaskSpec;
import dev.pollen.proto.common.v2.Download;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.HashSet;

/** Reads a Dragonfly {@code Download} message into a validated {@link DownloadRequest}. */
final class DownloadRequests {
    private DownloadRequests() {
    }

    static DownloadRequest from(Download d) {
        TaskSpec spec = new TaskSpec(d.getUrl(),
                d.hasTag() ? d.getTag() : null,
                d.hasApplication() ? d.getApplication() : null,
                d.hasPieceLength() ? d.getPieceLength() : null,
                new HashSet<>(d.getFilteredQueryParamsList()),
                d.getRequestHeaderMap());
        DownloadRequest.ByteRange range = d.hasRange()
                ? new DownloadRequest.ByteRange(d.getRange().getStart(), d.getRange().getLength()) : null;
        ContentDigest digest = d.hasDigest() && !d.getDigest().isEmpty() ? ContentDigest.parse(d.getDigest()) : null;
        Path output = null;
        if (d.hasOutputPath() && !d.getOutputPath().isEmpty()) {
            try {
                output = Path.of(d.getOutputPath());
            } catch (InvalidPathException e) {
                throw new PollenException(ErrorCode.OUTPUT_INVALID, "invalid output path " + d.getOutputPath() + ": " + e.getReason());
            }
            if (!output.isAbsolute()) {
                throw new PollenException(ErrorCode.OUTPUT_INVALID, "output path " + output
                        + " must be absolute (dfget resolves relative paths itself)");
            }
        }
        return new DownloadRequest(spec, range, digest, output, d.getOverwrite(), d.getForceHardLink(),
                !d.getDisableBackToSource());
    }
}
