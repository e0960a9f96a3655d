package dev.pollen.agent.task;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.origin.OriginClient;
import java.io.IOException;
import java.io.InputStream;

/**
 * Whether a DownloadTask caller may be given a registry blob it names by digest ({@code enable_task_id_based_blob_digest}).
 * Such a blob is one task per layer whoever pulled it, so a caller that names the digest of a layer another client
 * pulled with credentials would get it from this node's store, or from its peers, with no word from the registry. Before
 * such a download this asks the registry, with the caller's own headers, for the blob's first byte (the mirror asks
 * its clients' registry the same with a HEAD): a 401 or 403 refuses the caller; a registry that cannot answer refuses
 * it too, since nothing confirmed it. Off with {@code proxy.authorization.enable: false}, as the mirror's check is.
 */
public final class BlobReadCheck {
    /** Every caller is given what it names (the check is off). */
    public static final BlobReadCheck OFF = new BlobReadCheck(null);

    private final OriginClient origin;

    /** @param origin asks the registry, under the origins' deny list like every back-to-source request */
    public BlobReadCheck(OriginClient origin) {
        this.origin = origin;
    }

    /** Returns when the caller of {@code spec} may have its content; throws the reason it may not. */
    public void confirm(TaskSpec spec) {
        if (origin == null || spec.blobDigest() == null) {
            return;
        }
        String blob = "blob " + spec.blobDigest() + " of " + spec.url();
        try (InputStream firstByte = origin.probeOnce(spec.uri(), spec.requestHeaders()).body()) {
            firstByte.readAllBytes(); // read to its end, the probe's connection is kept for the download
        } catch (IOException e) {
            throw new PollenException(ErrorCode.ORIGIN_UNREACHABLE, "the registry could not confirm that this caller may read "
                    + blob + ": " + e.getMessage() + " (fix: retry once the registry answers)", e);
        } catch (PollenException e) {
            if (e.code() == ErrorCode.ORIGIN_DENIED) {
                throw new PollenException(ErrorCode.ORIGIN_DENIED, "this node gives a layer it holds only to callers its registry "
                        + "lets in, and the registry refused this one for " + blob + ": " + e.getMessage(), e.originStatus(), e);
            }
            if (OriginProbe.isUnavailable(e)) {
                throw new PollenException(ErrorCode.ORIGIN_UNREACHABLE, "the registry could not confirm that this caller may read "
                        + blob + " (" + e.getMessage() + "): this node gives a layer it holds only to callers its registry lets in "
                        + "(fix: retry once the registry answers, or set proxy.authorization.enable: false to trust every caller "
                        + "of this node)", e.originStatus(), e);
            }
            throw e;
        }
    }
}
