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
 * {@code bytes=0-0}, before it registers): the task's length and headers. When the origin is unavailable (it
 * cannot be reached, or fails with a 5xx after the retries) the probe remembers why instead of failing, since
 * peers may still hold the task; any other answer (404, 403, ...) is final and thrown at once.
 */
final class OriginProbe implements AutoCloseable {
    private final OriginResponse response;
    private final PollenException unavailable;
    private boolean taken;

    private OriginProbe(OriginResponse response, PollenException unavailable) {
        this.response = response;
        this.unavailable = unavailable;
    }

    static OriginProbe of(OriginClient origin, TaskSpec request) {
        try {
            return new OriginProbe(origin.probe(request.uri(), request.requestHeaders()), null);
        } catch (PollenException e) {
            if (isUnavailable(e)) {
                return new OriginProbe(null, e);
            }
            throw e;
        }
    }

    private static boolean isUnavailable(PollenException e) {
        return e.code() == ErrorCode.ORIGIN_UNREACHABLE
                || e.code() == ErrorCode.ORIGIN_STATUS && (e.originStatus() >= 500 || e.originStatus() == 408 || e.originStatus() == 429);
    }

    /** The content's length, -1 when the origin did not say or was unavailable. */
    long length() {
        return response == null ? -1 : response.totalLength();
    }

    /** The origin's response headers that describe the content (not the probe's own range), empty when unavailable. */
    Map<String, List<String>> headers() {
        Map<String, List<String>> headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        if (response != null) {
            headers.putAll(response.headers());
            headers.remove("Content-Range");
            headers.remove("Content-Length");
        }
        return headers;
    }

    /** The answer, now the caller's to read or close; throws why the origin was unavailable when it was. */
    OriginResponse response() {
        if (response == null) {
            throw unavailable;
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
