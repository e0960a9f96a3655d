package dev.pollen.agent.task;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Set;
import org.junit.jupiter.api.Test;

class TaskIdsTest {
    private static String sha256(String s) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void matchesDragonflyVectorWithTagAndApplication() throws Exception {
        assertThat(TaskIds.taskId("https://example.com", "foo", "bar", null, Set.of()))
                .isEqualTo(sha256("https://example.comfoobarSTANDARD"));
    }

    @Test
    void matchesDragonflyVectorWithFilteredQueryParams() throws Exception {
        assertThat(TaskIds.taskId("https://example.com?foo=foo&bar=bar", null, null, null, Set.of("foo", "bar")))
                .isEqualTo(sha256("https://example.comSTANDARD"));
    }

    @Test
    void includesAFixedPieceLengthInDecimal() throws Exception {
        assertThat(TaskIds.taskId("https://example.com", null, null, 4194304L, Set.of()))
                .isEqualTo(sha256("https://example.com4194304STANDARD"));
    }

    @Test
    void keepsUnfilteredParamsInOrder() {
        assertThat(TaskIds.filterQuery("http://h/p?a=1&X-Amz-Signature=s&b=2#frag", Set.of("X-Amz-Signature")))
                .isEqualTo("http://h/p?a=1&b=2#frag");
    }

    @Test
    void signedUrlsWithDifferentSignaturesShareATask() {
        Set<String> filtered = Set.of("Expires", "Signature");
        assertThat(TaskIds.taskId("http://h/blob?Expires=1&Signature=a", null, null, null, filtered))
                .isEqualTo(TaskIds.taskId("http://h/blob?Expires=2&Signature=b", null, null, null, filtered));
    }
}
