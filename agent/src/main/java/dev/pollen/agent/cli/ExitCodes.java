package dev.pollen.agent.cli;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.GrpcErrors;
import io.grpc.Metadata;
import io.grpc.Status;

/** dfget's exit codes, one per kind of failure, derived from the daemon's gRPC status. */
final class ExitCodes {
    /** The daemon is not there: it cannot be reached, or it went away mid-download. Run again once it is back. */
    static final int DAEMON_UNAVAILABLE = 3;
    /** The daemon's exact error code, sent alongside its gRPC status. */

    private ExitCodes() {
    }

    /** From the daemon's exact error code when it sent one, else from the gRPC code. */
    static int of(Status status, Metadata trailers) {
        String name = trailers == null ? null : trailers.get(GrpcErrors.ERROR_CODE);
        if (name != null) {
            try {
                return ErrorCode.valueOf(name).exitCode();
            } catch (IllegalArgumentException unknown) {
                // a newer daemon's code: fall back to the gRPC code
            }
        }
        return of(status.getCode());
    }

    /**
     * Whether the status is the daemon's own answer (it sent its error code); otherwise the transport made
     * it up, e.g. when the connection broke.
     */
    static boolean fromDaemon(Metadata trailers) {
        return trailers != null && trailers.containsKey(GrpcErrors.ERROR_CODE);
    }

    static int of(Status.Code code) {
        ErrorCode error = switch (code) {
            case INVALID_ARGUMENT -> ErrorCode.INVALID_ARGUMENT;
            case NOT_FOUND -> ErrorCode.ORIGIN_NOT_FOUND;
            case PERMISSION_DENIED -> ErrorCode.ORIGIN_DENIED;
            case FAILED_PRECONDITION, UNAVAILABLE -> ErrorCode.ORIGIN_STATUS;
            case DATA_LOSS -> ErrorCode.DIGEST_MISMATCH;
            case DEADLINE_EXCEEDED -> ErrorCode.TIMEOUT;
            case ALREADY_EXISTS -> ErrorCode.OUTPUT_EXISTS;
            case RESOURCE_EXHAUSTED -> ErrorCode.NO_SPACE;
            default -> ErrorCode.INTERNAL;
        };
        return error.exitCode();
    }
}
