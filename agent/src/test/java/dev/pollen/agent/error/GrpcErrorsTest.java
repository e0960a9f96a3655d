package dev.pollen.agent.error;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Errors as Dragonfly's dfget reads them (dragonflyoss/client {@code dragonfly-client/src/bin/dfget/main.rs},
 * {@code main}: {@code serde_json::from_slice::<Backend>(status.details())}, else it prints the details with
 * {@code std::str::from_utf8(..).unwrap()}), while Pollen's own dfget keeps its gRPC code and error-code trailer.
 */
class GrpcErrorsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void anOriginStatusTravelsAsBackendJsonInTheStatusDetails() throws Exception {
        StatusRuntimeException e = GrpcErrors.toStatus(new PollenException(ErrorCode.ORIGIN_NOT_FOUND,
                "origin answered 404 for http://origin/f", 404, null));

        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
        assertThat(e.getTrailers().get(GrpcErrors.ERROR_CODE)).isEqualTo("ORIGIN_NOT_FOUND");
        byte[] details = e.getTrailers().get(GrpcErrors.DETAILS);
        String text = strictUtf8(details);
        // serde_json's field order for the prost struct, and no field dfget's serde would not know.
        assertThat(text).startsWith("{\"message\":\"origin answered 404 for http://origin/f\",\"header\":{},\"status_code\":404}");
        JsonNode backend = JSON.readTree(details);
        assertThat(backend.get("message").asText()).isEqualTo("origin answered 404 for http://origin/f");
        assertThat(backend.get("header").isObject()).isTrue();
        assertThat(backend.get("status_code").asInt()).isEqualTo(404);
        assertThat(backend.properties()).extracting(java.util.Map.Entry::getKey)
                .containsExactly("message", "header", "status_code");
    }

    @Test
    void headersAreWrittenAsAnObjectOfStrings() throws Exception {
        byte[] json = GrpcErrors.backendJson(new GrpcErrors.Backend("m", java.util.Map.of("content-type", "text/plain"), 500));

        assertThat(JSON.readTree(json).get("header").get("content-type").asText()).isEqualTo("text/plain");
    }

    @Test
    void otherErrorsCarryNoDetailsAtAll() {
        for (PollenException error : List.of(
                new PollenException(ErrorCode.ORIGIN_UNREACHABLE, "origin http://origin/f unreachable"),
                new PollenException(ErrorCode.TIMEOUT, "download did not finish within its timeout"),
                new PollenException(ErrorCode.DIGEST_MISMATCH, "digest mismatch"),
                new PollenException(ErrorCode.INTERNAL, "internal"))) {
            StatusRuntimeException e = GrpcErrors.toStatus(error);

            assertThat(e.getTrailers().containsKey(GrpcErrors.DETAILS)).as(error.code().name()).isFalse();
            assertThat(e.getTrailers().get(GrpcErrors.ERROR_CODE)).isEqualTo(error.code().name());
            assertThat(e.getStatus().getDescription()).isEqualTo(error.getMessage());
        }
    }

    private static String strictUtf8(byte[] bytes) throws CharacterCodingException {
        return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
    }
}
