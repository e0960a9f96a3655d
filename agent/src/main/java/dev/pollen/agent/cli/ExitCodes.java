package dev.pollen.agent.cli;

import dev.pollen.agent.ErrorCode;
import io.grpc.Status;

/** dfget's exit codes, one per kind of failure, derived from the daemon's gRPC status. */
final class ExitCodes {
    static final int CANNOT_CONNECT = 3;

    private ExitCodes() {
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
