package dev.pollen.agent.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.agent.PollenException;
import dev.pollen.agent.task.DownloadRequest;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Range;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
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
            if (request.range() != null) {
                assertThat(request.range().start()).isNotNegative();
                assertThat(request.range().length()).isNotNegative();
            }
        } catch (PollenException e) {
            assertThat(e.getMessage()).isNotBlank();
        }
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
                        longs.injectNull(0.5), text.list().ofMaxSize(3), Arbitraries.maps(text, text).ofMaxSize(3))
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
