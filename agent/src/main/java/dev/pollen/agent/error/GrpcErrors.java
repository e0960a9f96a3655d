package dev.pollen.agent.error;

import com.google.protobuf.Any;
import com.google.rpc.Code;
import dev.pollen.proto.errordetails.v2.Backend;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;

/**
 * Turns operating errors into gRPC statuses at the API edge; origin failures carry Dragonfly's Backend
 * detail. Several error codes share a gRPC code, so the exact one travels in a Pollen trailer that
 * dfget turns into its exit code; other clients can ignore it.
 */
public final class GrpcErrors {
    /** Trailer with the {@link ErrorCode} name. */
    /** The trailer naming the exact {@link ErrorCode}: several codes share a gRPC status. dfget reads it. */
    public static final Metadata.Key<String> ERROR_CODE = Metadata.Key.of(ErrorCode.TRAILER, Metadata.ASCII_STRING_MARSHALLER);

    private GrpcErrors() {
    }

    public static StatusRuntimeException toStatus(PollenException e) {
        Code code = switch (e.code()) {
            case INVALID_ARGUMENT, OUTPUT_INVALID -> Code.INVALID_ARGUMENT;
            case ORIGIN_NOT_FOUND, TASK_NOT_FOUND -> Code.NOT_FOUND;
            case ORIGIN_DENIED -> Code.PERMISSION_DENIED;
            case ORIGIN_STATUS, BACK_TO_SOURCE_DISABLED -> Code.FAILED_PRECONDITION;
            case ORIGIN_UNREACHABLE -> Code.UNAVAILABLE;
            case DIGEST_MISMATCH -> Code.DATA_LOSS;
            case TIMEOUT -> Code.DEADLINE_EXCEEDED;
            case OUTPUT_EXISTS -> Code.ALREADY_EXISTS;
            case NO_SPACE -> Code.RESOURCE_EXHAUSTED;
            case INTERNAL -> Code.INTERNAL;
        };
        com.google.rpc.Status.Builder status = com.google.rpc.Status.newBuilder()
                .setCode(code.getNumber())
                .setMessage(String.valueOf(e.getMessage()));
        if (e.originStatus() != 0) {
            status.addDetails(Any.pack(Backend.newBuilder().setMessage(String.valueOf(e.getMessage()))
                    .setStatusCode(e.originStatus()).build()));
        }
        Metadata trailers = new Metadata();
        trailers.put(ERROR_CODE, e.code().name());
        return StatusProto.toStatusRuntimeException(status.build(), trailers);
    }
}
