package dev.pollen.agent.task;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.storage.ContentDigest;
import dev.pollen.proto.common.v2.Download;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * What identifies a task and how to reach its origin. Validated on construction, so a bad url is
 * rejected before anything is stored or requested.
 *
 * @param pieceLength a fixed piece length from the request, or null for Dragonfly's rule
 * @param blobDigest for an OCI blob: its sha256 digest, which is then the task id (Dragonfly's
 *     {@code enable_task_id_based_blob_digest}) and which the whole content must match before the task is finished;
 *     null for a url-based task
 */
public record TaskSpec(
        String url,
        String tag,
        String application,
        Long pieceLength,
        Set<String> filteredQueryParams,
        Map<String, String> requestHeaders,
        ContentDigest blobDigest) {

    public TaskSpec {
        filteredQueryParams = Set.copyOf(filteredQueryParams);
        requestHeaders = Map.copyOf(requestHeaders);
        uri(url);
        if (pieceLength != null) {
            PieceLengths.checkFixed(pieceLength);
        }
        if (blobDigest != null && !blobDigest.algorithm().equals("sha256")) {
            throw new PollenException(ErrorCode.INVALID_ARGUMENT, "blob digest " + blobDigest + " of " + url
                    + " is not sha256 (expected: sha256:<64 hex>)");
        }
    }

    /** A url-based task. */
    public TaskSpec(String url, String tag, String application, Long pieceLength, Set<String> filteredQueryParams,
                    Map<String, String> requestHeaders) {
        this(url, tag, application, pieceLength, filteredQueryParams, requestHeaders, null);
    }

    /** An OCI blob at {@code url}, identified by its digest (Dragonfly's rule for piece lengths). */
    public static TaskSpec blob(String url, ContentDigest digest, Map<String, String> requestHeaders) {
        return new TaskSpec(url, null, null, null, Set.of(), requestHeaders, digest);
    }

    public String taskId() {
        return blobDigest != null ? TaskIds.blobTaskId(blobDigest)
                : TaskIds.taskId(url, tag, application, pieceLength, filteredQueryParams);
    }

    /**
     * The download as Dragonfly's dfdaemon registers it: with the length it learned from the origin (or its
     * disk) first, as {@code actual_*}. Dragonfly's scheduler keeps the first registrant's values as the task's
     * and reads an unset length as 0, an empty task; so they are left unset only when the length is unknown.
     */
    Download toDownload(long contentLength, long pieceLength) {
        Download d = toDownload();
        if (contentLength < 0) {
            return d;
        }
        long pieces = contentLength == 0 ? 0 : (contentLength - 1) / pieceLength + 1;
        return d.toBuilder().setActualContentLength(contentLength).setActualPieceLength(pieceLength)
                .setActualPieceCount(pieces).build();
    }

    /** The request as the scheduler hears it when this node registers for the task, without a length. */
    public Download toDownload() {
        Download.Builder d = Download.newBuilder().setUrl(url).addAllFilteredQueryParams(filteredQueryParams)
                .putAllRequestHeader(requestHeaders).setEnableTaskIdBasedBlobDigest(blobDigest != null);
        if (tag != null) {
            d.setTag(tag);
        }
        if (application != null) {
            d.setApplication(application);
        }
        if (pieceLength != null) {
            d.setPieceLength(pieceLength);
        }
        return d.build();
    }

    public URI uri() {
        return uri(url);
    }

    private static URI uri(String url) {
        if (url == null || url.isBlank()) {
            throw new PollenException(ErrorCode.INVALID_ARGUMENT, "missing url (expected: an http:// or https:// URL)");
        }
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw new PollenException(ErrorCode.INVALID_ARGUMENT, "malformed url " + url + ": " + e.getReason());
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            throw new PollenException(ErrorCode.INVALID_ARGUMENT, "unsupported url scheme '" + scheme + "' in " + url
                    + " (supported: http, https)");
        }
        if (uri.getHost() == null || uri.getHost().isEmpty()) {
            throw new PollenException(ErrorCode.INVALID_ARGUMENT, "url " + url + " has no host");
        }
        return uri;
    }
}
