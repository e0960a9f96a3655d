package dev.pollen.agent.error;

import java.util.Map;

/** An operating error a user can cause or meet; its message names the cause and, where there is one, the fix. */
public class PollenException extends RuntimeException {
    private final ErrorCode code;
    private final int originStatus;
    private final Map<String, String> originHeaders;

    public PollenException(ErrorCode code, String message) {
        this(code, message, 0, null);
    }

    public PollenException(ErrorCode code, String message, Throwable cause) {
        this(code, message, 0, cause);
    }

    public PollenException(ErrorCode code, String message, int originStatus, Throwable cause) {
        this(code, message, originStatus, Map.of(), cause);
    }

    /**
     * @param originHeaders the origin's response headers with the status (lower-case names), which Dragonfly's
     *     dfget shows with a backend error
     */
    public PollenException(ErrorCode code, String message, int originStatus, Map<String, String> originHeaders, Throwable cause) {
        super(message, cause);
        this.code = code;
        this.originStatus = originStatus;
        this.originHeaders = Map.copyOf(originHeaders);
    }

    public ErrorCode code() {
        return code;
    }

    /** The HTTP status the origin answered with, or 0 when the failure did not come from an origin response. */
    public int originStatus() {
        return originStatus;
    }

    /** The origin's response headers that came with {@link #originStatus}, empty when there were none. */
    public Map<String, String> originHeaders() {
        return originHeaders;
    }
}
