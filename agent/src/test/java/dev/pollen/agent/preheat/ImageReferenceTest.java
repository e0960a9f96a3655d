package dev.pollen.agent.preheat;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

class ImageReferenceTest {
    private static final String DIGEST = "sha256:" + "ab".repeat(32);

    @Test
    void aBareNameIsDockerHubsLibraryAtLatest() {
        ImageReference r = ImageReference.parse("alpine");
        assertThat(r).isEqualTo(new ImageReference("docker.io", "library/alpine", "latest", null));
        assertThat(r.endpoint()).isEqualTo("registry-1.docker.io");
        assertThat(r.toString()).isEqualTo("docker.io/library/alpine:latest");
        assertThat(r.manifestUrl("https", r.manifestReference()))
                .isEqualTo("https://registry-1.docker.io/v2/library/alpine/manifests/latest");
    }

    @Test
    void dockerHubsNamesAreReadAsDockerAndContainerdReadThem() {
        assertThat(ImageReference.parse("docker.io/library/alpine:3.20").repository()).isEqualTo("library/alpine");
        assertThat(ImageReference.parse("index.docker.io/bitnami/redis").registry()).isEqualTo("docker.io");
        assertThat(ImageReference.parse("bitnami/redis:7").repository()).isEqualTo("bitnami/redis");
        assertThat(ImageReference.parse("docker.io/nginx").repository()).isEqualTo("library/nginx");
    }

    @Test
    void aFirstComponentWithADotOrAPortOrLocalhostIsTheRegistry() {
        assertThat(ImageReference.parse("127.0.0.1:5000/team/app:v1"))
                .isEqualTo(new ImageReference("127.0.0.1:5000", "team/app", "v1", null));
        assertThat(ImageReference.parse("localhost/app").registry()).isEqualTo("localhost");
        assertThat(ImageReference.parse("ghcr.io/o/p").endpoint()).isEqualTo("ghcr.io");
        assertThat(ImageReference.parse("team/app").registry()).as("no dot, no port: a Docker Hub user").isEqualTo("docker.io");
        assertThat(ImageReference.parse("registry.example:8443/app").blobUrl("http", DIGEST))
                .isEqualTo("http://registry.example:8443/v2/app/blobs/" + DIGEST);
    }

    @Test
    void aDigestPinsTheManifestEvenBesideATag() {
        ImageReference r = ImageReference.parse("ghcr.io/o/p:1.0@" + DIGEST);
        assertThat(r.tag()).isEqualTo("1.0");
        assertThat(r.digest()).isEqualTo(DIGEST);
        assertThat(r.manifestReference()).isEqualTo(DIGEST);
        assertThat(ImageReference.parse("alpine@" + DIGEST).tag()).as("no latest added to a digest").isNull();
    }

    @Test
    void malformedReferencesSayWhatIsWrong() {
        assertThatThrownBy(() -> ImageReference.parse("Alpine")).hasMessageContaining("name component \"Alpine\"")
                .hasMessageContaining("(expected: [registry[:port]/]name[:tag][@sha256:<64 hex digits>])");
        assertThatThrownBy(() -> ImageReference.parse("alpine@sha256:abc")).hasMessageContaining("digest sha256:abc");
        assertThatThrownBy(() -> ImageReference.parse("alpine:-bad")).hasMessageContaining("tag -bad");
        assertThatThrownBy(() -> ImageReference.parse("host:99999/app")).hasMessageContaining("registry host:99999");
        assertThatThrownBy(() -> ImageReference.parse("reg.io/")).hasMessageContaining("no repository name");
        assertThatThrownBy(() -> ImageReference.parse(" alpine")).hasMessageContaining("spaces");
        assertThatThrownBy(() -> ImageReference.parse("a//b")).hasMessageContaining("name component \"\"");
    }

    @Property
    void theQualifiedFormParsesBackToTheSameReference(@ForAll("references") String text) {
        ImageReference r = ImageReference.parse(text);
        assertThat(ImageReference.parse(r.toString())).isEqualTo(r);
        assertThat(r.manifestReference()).isNotEmpty();
        assertThat(r.repository()).doesNotStartWith("/").doesNotEndWith("/");
    }

    @Property
    void urlsNeverLeaveTheRegistrysV2Path(@ForAll("references") String text) {
        ImageReference r = ImageReference.parse(text);
        assertThat(r.blobUrl("https", DIGEST)).startsWith("https://" + r.endpoint() + "/v2/" + r.repository() + "/blobs/")
                .doesNotContain("..").doesNotContain("?").doesNotContain("#");
    }

    @Provide
    Arbitrary<String> references() {
        Arbitrary<String> component = Arbitraries.strings().withChars("abcdefghijklmnopqrstuvwxyz0123456789").ofMinLength(1).ofMaxLength(8)
                .list().ofMinSize(1).ofMaxSize(3).map(parts -> String.join(Arbitraries.of(".", "_", "__", "-").sample(), parts));
        Arbitrary<String> name = component.list().ofMinSize(1).ofMaxSize(3).map(c -> String.join("/", c));
        Arbitrary<String> registry = Arbitraries.of("", "docker.io/", "ghcr.io/", "localhost/", "127.0.0.1:5000/", "reg.example:443/");
        Arbitrary<String> tag = Arbitraries.strings().withChars("abcXYZ019_.-").ofMinLength(0).ofMaxLength(12)
                .map(t -> t.isEmpty() ? "" : ":v" + t);
        Arbitrary<String> digest = Arbitraries.strings().withChars("0123456789abcdef").ofLength(64).injectNull(0.5)
                .map(d -> d == null ? "" : "@sha256:" + d);
        return Combinators.combine(registry, name, tag, digest).as((r, n, t, d) -> r + n + t + d);
    }
}
