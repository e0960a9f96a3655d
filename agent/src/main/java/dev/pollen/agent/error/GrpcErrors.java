package dev.pollen.agent.error;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.Map;

/**
 * Turns operating errors into gRPC statuses at the API edge, in the form Dragonfly's dfget reads: an origin
 * failure with an HTTP status carries {@code errordetails.v2.Backend} as JSON in {@code grpc-status-details-bin}
 * (dragonflyoss/client {@code dfdaemon_download.rs}: {@code serde_json::to_vec::<Backend>}, read back by
 * {@code bin/dfget/main.rs} with {@code serde_json::from_slice::<Backend>}); every other error carries no
 * details, since dfget prints any details it cannot parse as UTF-8 text and would panic on protobuf bytes.
 * Several error codes share a gRPC code, so the exact one travels in a Pollen trailer that Pollen's dfget
 * turns into its exit code; other clients ignore it.
 */
public final class GrpcErrors {
    /** The trailer naming the exact {@link ErrorCode}: several codes share a gRPC status. dfget reads it. */
    public static final Metadata.Key<String> ERROR_CODE = Metadata.Key.of(ErrorCode.TRAILER, Metadata.ASCII_STRING_MARSHALLER);
    /** Where gRPC puts a status's details; Dragonfly's daemon fills it with Backend JSON, not a google.rpc.Status. */
    public static final Metadata.Key<byte[]> DETAILS = Metadata.Key.of("grpc-status-details-bin", Metadata.BINARY_BYTE_MARSHALLER);

    private static final ObjectMapper JSON = new ObjectMapper();

    private GrpcErrors() {
    }

    public static StatusRuntimeException toStatus(PollenException e) {
        Status.Code code = switch (e.code()) {
            case INVALID_ARGUMENT, OUTPUT_INVALID -> Status.Code.INVALID_ARGUMENT;
            case ORIGIN_NOT_FOUND, TASK_NOT_FOUND -> Status.Code.NOT_FOUND;
            case ORIGIN_DENIED -> Status.Code.PERMISSION_DENIED;
            case ORIGIN_STATUS, BACK_TO_SOURCE_DISABLED -> Status.Code.FAILED_PRECONDITION;
            case ORIGIN_UNREACHABLE -> Status.Code.UNAVAILABLE;
            case DIGEST_MISMATCH -> Status.Code.DATA_LOSS;
            case TIMEOUT -> Status.Code.DEADLINE_EXCEEDED;
            case OUTPUT_EXISTS -> Status.Code.ALREADY_EXISTS;
            case NO_SPACE -> Status.Code.RESOURCE_EXHAUSTED;
            case INTERNAL -> Status.Code.INTERNAL;
        };
        String message = String.valueOf(e.getMessage());
        Metadata trailers = new Metadata();
        trailers.put(ERROR_CODE, e.code().name());
        if (e.originStatus() != 0) {
            trailers.put(DETAILS, backendJson(new Backend(message, e.originHeaders(), e.originStatus())));
        }
        return Status.fromCode(code).withDescription(message).asRuntimeException(trailers);
    }

    /**
     * {@code errordetails.v2.Backend} as serde_json writes the prost type: field names as in the proto, in its
     * order, {@code message} and {@code header} always present (dfget's serde has no defaults for them).
     *
     * @param header the origin's response headers, lower-case names
     */
    @JsonPropertyOrder({"message", "header", "status_code"})
    record Backend(String message, Map<String, String> header, @JsonProperty("status_code") Integer statusCode) {
    }

    static byte[] backendJson(Backend backend) {
        try {
            return JSON.writeValueAsBytes(backend);
        } catch (JsonProcessingException e) {
            // Strings, a map of strings and an integer always serialize.
            throw new IllegalStateException("cannot write Backend details", e);
        }
    }
}
