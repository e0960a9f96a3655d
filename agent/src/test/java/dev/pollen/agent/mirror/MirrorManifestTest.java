package dev.pollen.agent.mirror;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.agent.SkewedClock;
import dev.pollen.agent.config.ProxyConfig;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Manifests survive a registry outage: kept by digest, tags remembered and served stale, never to a stranger. */
class MirrorManifestTest {
    private static final String REPO = "library/app";
    private static final String INDEX = "application/vnd.oci.image.index.v1+json";
    private static final String MANIFEST = "application/vnd.oci.image.manifest.v1+json";
    private static final String ALICE = "Bearer alice";

    @TempDir
    Path dir;
    private final SkewedClock clock = new SkewedClock();
    private FakeRegistry registry;
    private MirrorFixture mirror;
    private final byte[] index = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[]}"
            .getBytes(StandardCharsets.UTF_8);
    private final byte[] single = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"layers\":[]}"
            .getBytes(StandardCharsets.UTF_8);
    private final String indexDigest = "sha256:" + FakeRegistry.sha256(index);
    private final String singleDigest = "sha256:" + FakeRegistry.sha256(single);
    private final String tag = "/v2/" + REPO + "/manifests/1.0";

    @BeforeEach
    void setUp() throws Exception {
        registry = new FakeRegistry();
        registry.handle("/v2/", s -> FakeRegistry.Answer.of(200, "{}"));
        // The tag names the index for a client that accepts indexes, else the single manifest (as registries do).
        registry.handle(tag, s -> String.join(",", s.header("Accept")).contains(INDEX) ? manifest(index, INDEX) : manifest(single, MANIFEST));
        registry.handle("/v2/" + REPO + "/manifests/" + indexDigest, s -> manifest(index, INDEX));
        start(MirrorFixture.KEPT);
    }

    private void start(ProxyConfig.Manifests manifests) throws Exception {
        mirror = new MirrorFixture(dir.resolve("m" + System.nanoTime()), "https://registry.invalid", List.of(registry.hostPort()),
                Duration.ofSeconds(5), MirrorFixture.CHECKED, manifests, clock);
    }

    private static FakeRegistry.Answer manifest(byte[] body, String type) {
        return FakeRegistry.Answer.of(200, new String(body, StandardCharsets.UTF_8), "Content-Type", type,
                "Docker-Content-Digest", "sha256:" + FakeRegistry.sha256(body), "Content-Length", String.valueOf(body.length));
    }

    @AfterEach
    void tearDown() {
        mirror.close();
        registry.close();
    }

    private URI uri(String path) {
        return mirror.mirrorUri(path, registry.hostPort());
    }

    private void registryDown() {
        registry.before = s -> FakeRegistry.Answer.of(503, "{\"errors\":[{\"code\":\"UNAVAILABLE\"}]}");
    }

    @Test
    void aManifestByDigestIsKeptAndServedWhileTheRegistryIsDown() throws Exception {
        URI byDigest = uri("/v2/" + REPO + "/manifests/" + indexDigest);
        assertThat(mirror.get(byDigest, "Accept", INDEX).body()).isEqualTo(index);
        registryDown();

        HttpResponse<byte[]> kept = mirror.get(byDigest, "Accept", INDEX);
        assertThat(kept.statusCode()).isEqualTo(200);
        assertThat(kept.body()).isEqualTo(index);
        assertThat(kept.headers().firstValue("Content-Type")).contains(INDEX);
        assertThat(kept.headers().firstValue("Docker-Content-Digest")).contains(indexDigest);
        assertThat(kept.headers().firstValue(Exchange.SOURCE)).contains("local");
        HttpResponse<Void> head = mirror.head(byDigest, "Accept", INDEX);
        assertThat(head.statusCode()).isEqualTo(200);
        assertThat(head.headers().firstValue("Content-Length")).contains(String.valueOf(index.length));
    }

    @Test
    void aTagIsServedStaleWhileTheRegistryFailsAndNotPastMaxStale() throws Exception {
        assertThat(mirror.head(uri(tag), "Accept", INDEX).headers().firstValue("Docker-Content-Digest")).contains(indexDigest);
        assertThat(mirror.get(uri(tag), "Accept", INDEX).body()).isEqualTo(index);
        registryDown();
        clock.skip(Duration.ofHours(3));

        HttpResponse<Void> head = mirror.head(uri(tag), "Accept", INDEX);
        assertThat(head.statusCode()).isEqualTo(200);
        assertThat(head.headers().firstValue("Docker-Content-Digest")).contains(indexDigest);
        assertThat(head.headers().firstValue("Content-Length")).contains(String.valueOf(index.length));
        assertThat(head.headers().firstValue("Content-Type")).contains(INDEX);
        assertThat(head.headers().firstValue(Exchange.REASON)).contains("stale_if_error");
        HttpResponse<byte[]> get = mirror.get(uri(tag), "Accept", INDEX);
        assertThat(get.body()).isEqualTo(index);
        assertThat(get.headers().firstValue(Exchange.REASON)).contains("stale_if_error");

        clock.skip(Duration.ofHours(22));
        HttpResponse<byte[]> tooOld = mirror.get(uri(tag), "Accept", INDEX);
        assertThat(tooOld.statusCode()).as("the registry's own answer").isEqualTo(503);
        assertThat(new String(tooOld.body())).contains("UNAVAILABLE");
    }

    @Test
    void eachAcceptGetsItsOwnAnswer() throws Exception {
        mirror.get(uri(tag), "Accept", INDEX + ", " + MANIFEST);
        mirror.get(uri(tag), "Accept", MANIFEST);
        registryDown();

        assertThat(mirror.get(uri(tag), "Accept", MANIFEST + "," + INDEX).body()).as("the same set in another order").isEqualTo(index);
        assertThat(mirror.get(uri(tag), "Accept", MANIFEST).body()).isEqualTo(single);
        assertThat(mirror.get(uri(tag), "Accept", "application/json").statusCode()).as("never asked this way").isEqualTo(503);
    }

    @Test
    void aFreshTagAnswerSparesTheRegistryForTagTtl() throws Exception {
        mirror.head(uri(tag), "Accept", INDEX);
        mirror.head(uri(tag), "Accept", INDEX);
        assertThat(registry.requestsTo("HEAD", tag)).hasSize(1);

        clock.skip(Duration.ofSeconds(11));
        mirror.head(uri(tag), "Accept", INDEX);
        assertThat(registry.requestsTo("HEAD", tag)).hasSize(2);
    }

    @Test
    void aRegistryThatAnswersIsAlwaysBelievedOverTheMemory() throws Exception {
        mirror.get(uri(tag), "Accept", INDEX);
        clock.skip(Duration.ofSeconds(11));
        registry.handle(tag, s -> manifest(single, MANIFEST));

        assertThat(mirror.get(uri(tag), "Accept", INDEX).body()).isEqualTo(single);
        registry.handle(tag, s -> FakeRegistry.Answer.of(404, "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\"}]}"));
        clock.skip(Duration.ofSeconds(11));
        assertThat(mirror.get(uri(tag), "Accept", INDEX).statusCode()).as("a 404 is not an outage").isEqualTo(404);
    }

    @Test
    void aPrivateRepositorysRememberedAnswersGoOnlyToClientsItLetIn() throws Exception {
        registry.handle("/v2/", s -> FakeRegistry.Answer.of(401, "{}", "WWW-Authenticate", "Bearer realm=\"x\""));
        registry.handle(tag, s -> s.header("Authorization").contains(ALICE) ? manifest(index, INDEX)
                : FakeRegistry.Answer.of(401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}"));
        String byDigestPath = "/v2/" + REPO + "/manifests/" + indexDigest;
        registry.handle(byDigestPath, s -> s.header("Authorization").contains(ALICE) ? manifest(index, INDEX)
                : FakeRegistry.Answer.of(401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}"));
        assertThat(mirror.get(uri(tag), "Accept", INDEX, "Authorization", ALICE).body()).isEqualTo(index);
        assertThat(mirror.get(uri(byDigestPath), "Accept", INDEX, "Authorization", ALICE).body()).isEqualTo(index);

        assertThat(mirror.get(uri(byDigestPath), "Accept", INDEX).statusCode()).as("kept, but not for a stranger").isEqualTo(401);
        assertThat(mirror.head(uri(tag), "Accept", INDEX).statusCode()).as("a fresh answer is not the stranger's either").isEqualTo(401);

        registryDown();
        assertThat(mirror.head(uri(tag), "Accept", INDEX, "Authorization", ALICE).headers().firstValue("Docker-Content-Digest"))
                .contains(indexDigest);
        assertThat(mirror.get(uri(byDigestPath), "Accept", INDEX, "Authorization", ALICE).body()).isEqualTo(index);
        HttpResponse<byte[]> stranger = mirror.get(uri(tag), "Accept", INDEX, "Authorization", "Bearer stranger");
        assertThat(stranger.statusCode()).isEqualTo(503);
        assertThat(stranger.headers().firstValue("Docker-Content-Digest")).isEmpty();
        assertThat(mirror.get(uri(byDigestPath), "Accept", INDEX, "Authorization", "Bearer stranger").statusCode()).isEqualTo(502);
    }

    @Test
    void aManifestThatIsNotItsDigestIsPassedOnButNeverKept() throws Exception {
        String lie = "/v2/" + REPO + "/manifests/" + singleDigest;
        registry.handle(lie, s -> FakeRegistry.Answer.of(200, new String(index, StandardCharsets.UTF_8), "Content-Type", INDEX));

        assertThat(mirror.get(uri(lie)).body()).as("the client verifies what it was sent").isEqualTo(index);
        registryDown();
        assertThat(mirror.get(uri(lie)).statusCode()).isEqualTo(503);
    }

    @Test
    void staleIfErrorOffPassesTheFailureOn() throws Exception {
        mirror.close();
        start(new ProxyConfig.Manifests(true, Duration.ofSeconds(10), false, Duration.ofHours(24)));
        mirror.head(uri(tag), "Accept", INDEX);
        registryDown();
        clock.skip(Duration.ofSeconds(11));

        assertThat(mirror.head(uri(tag), "Accept", INDEX).statusCode()).isEqualTo(503);
    }

    @Test
    void anUnreachableRegistryWithNothingRememberedIsA502() throws Exception {
        registry.close();
        HttpResponse<byte[]> r = mirror.get(uri(tag), "Accept", INDEX);
        assertThat(r.statusCode()).isEqualTo(502);
        assertThat(r.headers().firstValue(Exchange.REASON)).contains("upstream_unreachable");
    }
}
