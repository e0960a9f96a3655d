package dev.pollen.agent.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.task.DownloadRequest;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Range;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/** Any Download message a local caller can send becomes a validated request or a PollenException, nothing else. */
class DownloadRequestsPropertiesTest {
    @Property
    void anyDownloadMessageGivesARequestOrAPollenException(@ForAll("downloads") Download download) {
        try {
            DownloadRequest request = DownloadRequests.from(download);
            assertThat(request.spec().taskId()).matches("[0-9a-f]{64}");
            if (request.output() != null) {
                assertThat(request.output().isAbsolute()).isTrue();
            }
            // Accepted headers can go on the wire as they are: no request splitting, nothing the HTTP client refuses later.
            request.spec().requestHeaders().forEach((name, value) -> {
                assertThat(name).matches("[!#$%&'*+\\-.^_`|~0-9A-Za-z]+");
                assertThat(value).matches("[\\t\\x20-\\x7e\\x80-\\xff]*");
            });
            if (request.range() != null) {
                assertThat(request.range().start()).isNotNegative();
                assertThat(request.range().length()).isNotNegative();
            }
        } catch (PollenException e) {
            assertThat(e.getMessage()).isNotBlank();
        }
    }

    /** Found by the property: a header that would split the origin request (or that the HTTP client refuses) was accepted. */
    @Example
    void refusesHeadersHttpCannotCarry() {
        for (var header : java.util.Map.of("X-A", "1\r\nX-Injected: 1", "", "v", "X\r\nY", "v", "X-B", "\u4e2d").entrySet()) {
            Download d = Download.newBuilder().setUrl("http://h/f").putRequestHeader(header.getKey(), header.getValue()).build();
            assertThatThrownBy(() -> DownloadRequests.from(d)).as("%s", header)
                    .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.INVALID_ARGUMENT))
                    .hasMessageNotContaining("\n");
        }
        Download ok = Download.newBuilder().setUrl("http://h/f").putRequestHeader("Authorization", "Bearer a\tb caf\u00e9").build();
        assertThat(DownloadRequests.from(ok).spec().requestHeaders()).containsEntry("Authorization", "Bearer a\tb caf\u00e9");
    }

    private static Arbitrary<java.util.Map<String, String>> headers() {
        Arbitrary<String> name = Arbitraries.oneOf(Arbitraries.strings().ofMaxLength(12),
                Arbitraries.of("Authorization", "X-Token", "Host", "", "a b", "a:b", "X\r\nInjected", "\u00e9"));
        Arbitrary<String> value = Arbitraries.oneOf(Arbitraries.strings().ofMaxLength(12),
                Arbitraries.of("Bearer x", "", "a\r\nX-Injected: 1", "a\nb", "a\u0000b", "\t tab", "caf\u00e9", "\u4e2d"));
        return Arbitraries.maps(name, value).ofMaxSize(3);
    }

    @Provide
    Arbitrary<Download> downloads() {
        Arbitrary<String> text = Arbitraries.strings().ofMaxLength(30);
        Arbitrary<String> url = Arbitraries.oneOf(text, Arbitraries.of("http://h/f", "https://example.com/a?b=c", "http://[::1]:80/x",
                "ftp://h/f", "http://", "http:///f", "http://h:99999/", "http://h/%zz", "http://h/f#x?y"));
        Arbitrary<String> digest = Arbitraries.oneOf(text, Arbitraries.of("sha256:" + "a".repeat(64), "SHA256:" + "A".repeat(64),
                "sha512:" + "0".repeat(128), "crc32:4294967295", "crc32:4294967296", "crc32:99999999999", "crc32:", "md5:x", ":"));
        Arbitrary<String> path = Arbitraries.oneOf(text, Arbitraries.of("/tmp/out", "relative", "/", "/tmp/a\u0000b", "//x", "/tmp/../x"));
        Arbitrary<Long> longs = Arbitraries.oneOf(Arbitraries.longs(), Arbitraries.of(0L, 1L, -1L, Long.MAX_VALUE, Long.MIN_VALUE, 4L << 20));
        Arbitrary<Download.Builder> identity = Combinators.combine(url, text.injectNull(0.5), text.injectNull(0.5),
                        longs.injectNull(0.5), text.list().ofMaxSize(3), headers())
                .as((u, tag, app, pieceLength, filtered, headers) -> {
                    Download.Builder b = Download.newBuilder().setUrl(u).addAllFilteredQueryParams(filtered).putAllRequestHeader(headers);
                    if (tag != null) {
                        b.setTag(tag);
                    }
                    if (app != null) {
                        b.setApplication(app);
                    }
                    if (pieceLength != null) {
                        b.setPieceLength(pieceLength);
                    }
                    return b;
                });
        return Combinators.combine(identity, longs.injectNull(0.5), longs, digest.injectNull(0.3), path.injectNull(0.3),
                        Arbitraries.of(true, false).list().ofSize(3))
                .as((b, start, length, d, out, flags) -> {
                    if (start != null) {
                        b.setRange(Range.newBuilder().setStart(start).setLength(length));
                    }
                    if (d != null) {
                        b.setDigest(d);
                    }
                    if (out != null) {
                        b.setOutputPath(out);
                    }
                    return b.setOverwrite(flags.get(0)).setForceHardLink(flags.get(1)).setDisableBackToSource(flags.get(2)).build();
                });
    }
}
