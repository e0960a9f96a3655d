package dev.pollen.agent.error;

/** An operating error a user can cause or meet; its message names the cause and, where there is one, the fix. */
public class PollenException extends RuntimeException {
    private final ErrorCode code;
    private final int originStatus;

    public PollenException(ErrorCode code, String message) {
        this(code, message, 0, null);
    }

    public PollenException(ErrorCode code, String message, Throwable cause) {
        this(code, message, 0, cause);
    }

    public PollenException(ErrorCode code, String message, int originStatus, Throwable cause) {
        super(message, cause);
        this.code = code;
        this.originStatus = originStatus;
    }

    public ErrorCode code() {
        return code;
    }

    /** The HTTP status the origin answered with, or 0 when the failure did not come from an origin response. */
    public int originStatus() {
        return originStatus;
    }
}
