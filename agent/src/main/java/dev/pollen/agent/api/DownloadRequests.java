package dev.pollen.agent.api;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.storage.ContentDigest;
import dev.pollen.agent.task.DownloadRequest;
import dev.pollen.agent.task.TaskIds;
import dev.pollen.agent.task.TaskSpec;
import dev.pollen.proto.common.v2.Download;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Map;
import java.util.regex.Pattern;

/** Reads a Dragonfly {@code Download} message into a validated {@link DownloadRequest}. */
final class DownloadRequests {
    /** RFC 9110 field names (tokens) and values (visible ISO-8859-1 text, spaces and tabs): what HTTP/1.1 can carry. */
    private static final Pattern HEADER_NAME = Pattern.compile("[!#$%&'*+\\-.^_`|~0-9A-Za-z]+");
    private static final Pattern HEADER_VALUE = Pattern.compile("[\\t\\x20-\\x7e\\x80-\\xff]*");

    private DownloadRequests() {
    }

    static DownloadRequest from(Download d) {
        checkHeaders(d.getRequestHeaderMap());
        TaskSpec spec = new TaskSpec(d.getUrl(),
                d.hasTag() ? d.getTag() : null,
                d.hasApplication() ? d.getApplication() : null,
                d.hasPieceLength() ? d.getPieceLength() : null,
                new HashSet<>(d.getFilteredQueryParamsList()),
                d.getRequestHeaderMap(),
                // As Dragonfly's dfdaemon: a blob url asked for by digest is the task of that digest (a registry mirror's).
                d.getEnableTaskIdBasedBlobDigest() ? TaskIds.blobDigest(d.getUrl()) : null);
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

    /** A CR or LF would split the origin request; the HTTP client would refuse other bytes only mid-download. */
    private static void checkHeaders(Map<String, String> headers) {
        headers.forEach((name, value) -> {
            if (!HEADER_NAME.matcher(name).matches()) {
                throw new PollenException(ErrorCode.INVALID_ARGUMENT, "request header name \"" + printable(name)
                        + "\" is not an HTTP token (expected: letters, digits and !#$%&'*+-.^_`|~)");
            }
            if (!HEADER_VALUE.matcher(value).matches()) {
                throw new PollenException(ErrorCode.INVALID_ARGUMENT, "request header " + name
                        + " has a value with control or non-Latin-1 characters (expected: printable text, spaces and tabs)");
            }
        });
    }

    /** The text with control characters shown as escapes, so an error line stays one line. */
    private static String printable(String text) {
        StringBuilder sb = new StringBuilder();
        text.codePoints().forEach(c -> sb.append(Character.isISOControl(c) ? String.format("\\u%04x", c) : Character.toString(c)));
        return sb.toString();
    }
}
