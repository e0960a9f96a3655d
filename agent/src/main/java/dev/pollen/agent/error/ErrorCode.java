package dev.pollen.agent.error;

/**
 * What went wrong, independent of the edge that reports it. Each code maps to one gRPC status at
 * the API edge and to one dfget exit code, so callers can tell failures apart without parsing text.
 */
public enum ErrorCode {
    INVALID_ARGUMENT(2),
    ORIGIN_NOT_FOUND(4),
    ORIGIN_DENIED(4),
    ORIGIN_STATUS(4),
    ORIGIN_UNREACHABLE(4),
    DIGEST_MISMATCH(5),
    TIMEOUT(6),
    OUTPUT_EXISTS(7),
    OUTPUT_INVALID(7),
    NO_SPACE(8),
    BACK_TO_SOURCE_DISABLED(9),
    TASK_NOT_FOUND(10),
    INTERNAL(1);

    /**
     * Name of the gRPC trailer that carries the code's name across the API edge (several codes share a
     * gRPC status), so the server and dfget agree on it without one importing the other.
     */
    public static final String TRAILER = "pollen-error-code";

    private final int exitCode;

    ErrorCode(int exitCode) {
        this.exitCode = exitCode;
    }

    /** The process exit code dfget uses for this failure. */
    public int exitCode() {
        return exitCode;
    }
}
