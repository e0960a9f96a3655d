package dev.pollen.agent.task;

import dev.pollen.agent.storage.ContentDigest;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Dragonfly v2 task ids: hex SHA-256 over the url (minus filtered query parameters), tag, application,
 * piece length (decimal, when the request fixes it) and the task type name, without separators. Peers
 * that compute the same id share the task, so this must match Dragonfly byte for byte.
 *
 * <p>An OCI blob fetched with {@code enable_task_id_based_blob_digest} has its digest's hex as its id instead
 * (Dragonfly's {@code TaskIDParameter::BlobDigestBased}): one layer is one task whatever registry, repository or
 * redirect it came through.
 */
public final class TaskIds {
    private static final String STANDARD = "STANDARD";
    /** Dragonfly's {@code BLOB_URL_REGEX}: {@code <scheme>://<host>/v2/<repository>/blobs/<digest>[?query]}. */
    private static final Pattern BLOB_URL = Pattern.compile("^(.*)://(.*)/v2/(.*)/blobs/([^?]+)(?:\\?.*)?$");
    private static final Pattern SHA256 = Pattern.compile("sha256:([0-9a-f]{64})");

    private TaskIds() {
    }

    public static String taskId(String url, String tag, String application, Long pieceLength, Set<String> filteredQueryParams) {
        MessageDigest sha256 = sha256();
        sha256.update(filterQuery(url, filteredQueryParams).getBytes(StandardCharsets.UTF_8));
        if (tag != null) {
            sha256.update(tag.getBytes(StandardCharsets.UTF_8));
        }
        if (application != null) {
            sha256.update(application.getBytes(StandardCharsets.UTF_8));
        }
        if (pieceLength != null) {
            sha256.update(Long.toString(pieceLength).getBytes(StandardCharsets.UTF_8));
        }
        sha256.update(STANDARD.getBytes(StandardCharsets.UTF_8));
        return HexFormat.of().formatHex(sha256.digest());
    }

    /** The id of a blob task: the hex of its sha256 digest. */
    public static String blobTaskId(ContentDigest digest) {
        return digest.expected();
    }

    /**
     * The sha256 digest an OCI blob url names ({@code .../v2/<name>/blobs/sha256:<64 hex>}), or null when the url is
     * no blob url or its digest is not sha256 (such a url keeps its url-based id).
     */
    public static ContentDigest blobDigest(String url) {
        Matcher blob = BLOB_URL.matcher(url);
        if (!blob.matches()) {
            return null;
        }
        Matcher sha = SHA256.matcher(blob.group(4).toLowerCase(Locale.ROOT));
        return sha.matches() ? new ContentDigest("sha256", sha.group(1)) : null;
    }

    /**
     * The url without the named query parameters; no {@code ?} is left when none remain. A url that has
     * none of them is returned as it is, so naming a parameter the url lacks never changes its task id;
     * a {@code ?} after the {@code #} belongs to the fragment, not to a query.
     */
    static String filterQuery(String url, Set<String> filtered) {
        int hash = url.indexOf('#');
        int q = url.indexOf('?');
        if (q < 0 || (hash >= 0 && q > hash) || filtered.isEmpty()) {
            return url;
        }
        String query = hash < 0 ? url.substring(q + 1) : url.substring(q + 1, hash);
        String fragment = hash < 0 ? "" : url.substring(hash);
        List<String> kept = new ArrayList<>();
        boolean dropped = false;
        for (String pair : query.split("&")) {
            if (pair.isEmpty()) {
                continue;
            }
            int eq = pair.indexOf('=');
            String name = eq < 0 ? pair : pair.substring(0, eq);
            if (filtered.contains(name)) {
                dropped = true;
            } else {
                kept.add(pair);
            }
        }
        if (!dropped) {
            return url;
        }
        return url.substring(0, q) + (kept.isEmpty() ? "" : "?" + String.join("&", kept)) + fragment;
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }
}
