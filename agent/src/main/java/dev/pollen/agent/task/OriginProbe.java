package dev.pollen.agent.task;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.origin.OriginClient;
import dev.pollen.agent.origin.OriginResponse;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The origin's answer to the one-byte probe a download starts with (Dragonfly's dfdaemon does the same, a GET of
 * {@code bytes=0-0}, before it registers): the task's length and headers. The probe is one attempt: when the
 * origin is unavailable (it cannot be reached, or fails with a 5xx) the probe notes it instead of failing,
 * since peers may still hold the task, and the origin gets its retries only once it is needed; any other answer
 * (404, 403, ...) is final and thrown at once.
 */
final class OriginProbe implements AutoCloseable {
    private final OriginClient origin;
    private final TaskSpec request;
    private final OriginResponse response;
    private boolean taken;

    private OriginProbe(OriginClient origin, TaskSpec request, OriginResponse response) {
        this.origin = origin;
        this.request = request;
        this.response = response;
    }

    static OriginProbe of(OriginClient origin, TaskSpec request) {
        try {
            return new OriginProbe(origin, request, origin.probeOnce(request.uri(), request.requestHeaders()));
        } catch (PollenException e) {
            if (isUnavailable(e)) {
                return new OriginProbe(origin, request, null);
            }
            throw e;
        }
    }

    static boolean isUnavailable(PollenException e) {
        return e.code() == ErrorCode.ORIGIN_UNREACHABLE
                || e.code() == ErrorCode.ORIGIN_STATUS && (e.originStatus() >= 500 || e.originStatus() == 408 || e.originStatus() == 429);
    }

    /** The content's length, -1 when the origin did not say or was unavailable. */
    long length() {
        return response == null ? -1 : response.totalLength();
    }

    /** The origin's response headers that describe the content (not the probe's own range), empty when unavailable. */
    Map<String, List<String>> headers() {
        return response == null ? new TreeMap<>(String.CASE_INSENSITIVE_ORDER) : contentHeaders(response);
    }

    /** A probe answer's headers without those of the probe's own one-byte range. */
    static Map<String, List<String>> contentHeaders(OriginResponse answer) {
        Map<String, List<String>> headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        headers.putAll(answer.headers());
        headers.remove("Content-Range");
        headers.remove("Content-Length");
        return headers;
    }

    /**
     * The answer, now the caller's to read or close. When the first attempt found the origin unavailable, the origin
     * is asked again with its full retry budget (it is needed now), and fails as it fails.
     */
    OriginResponse response() {
        if (response == null) {
            return origin.probe(request.uri(), request.requestHeaders());
        }
        taken = true;
        return response;
    }

    /** Drops the answer's body unless a caller took it. */
    @Override
    public void close() {
        if (response != null && !taken) {
            taken = true;
            try {
                response.body().close();
            } catch (IOException ignored) {
                // only the connection is lost
            }
        }
    }
}
