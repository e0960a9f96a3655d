package dev.pollen.agent.mirror;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.agent.SkewedClock;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Private layers stay private: a blob this node holds goes to a client only once the registry has confirmed that
 * this client may read it. The registry here lets only {@code Bearer alice} into {@code private/app}.
 */
class MirrorAccessTest {
    private static final String REPO = "private/app";
    private static final String ALICE = "Bearer alice";
    private static final String CHALLENGE = "Bearer realm=\"http://registry/token\",service=\"registry\",scope=\"repository:private/app:pull\"";
    private static final String DENIED = "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}";

    @TempDir
    Path dir;
    private final SkewedClock clock = new SkewedClock();
    private FakeRegistry registry;
    private MirrorFixture mirror;
    private byte[] content;
    private String digest;
    private String path;

    @BeforeEach
    void setUp() throws Exception {
        registry = new FakeRegistry();
        content = new byte[300_000];
        new Random(7).nextBytes(content);
        digest = registry.blob(REPO, content);
        path = "/v2/" + REPO + "/blobs/" + digest;
        // As the distribution registry with token auth does: /v2/ asks everyone for credentials.
        registry.handle("/v2/", s -> FakeRegistry.Answer.of(401, DENIED, "WWW-Authenticate", CHALLENGE));
        registry.handle(path, s -> s.header("Authorization").contains(ALICE) ? null
                : s.header("Authorization").isEmpty() ? FakeRegistry.Answer.of(401, DENIED, "WWW-Authenticate", CHALLENGE,
                        "Content-Type", "application/json")
                : FakeRegistry.Answer.of(403, "{\"errors\":[{\"code\":\"DENIED\"}]}", "Content-Type", "application/json"));
        start(MirrorFixture.CHECKED);
    }

    private void start(dev.pollen.agent.config.ProxyConfig.Authorization authorization) throws Exception {
        if (mirror != null) {
            mirror.close();
        }
        mirror = new MirrorFixture(dir.resolve("m" + System.nanoTime()), "https://registry.invalid", List.of(registry.hostPort()),
                Duration.ofSeconds(5), authorization, MirrorFixture.KEPT, clock);
    }

    @AfterEach
    void tearDown() {
        mirror.close();
        registry.close();
    }

    private URI blob() {
        return mirror.mirrorUri(path, registry.hostPort());
    }

    @Test
    void aLayerPulledWithCredentialsIsNotServedToAClientWithoutThem() throws Exception {
        HttpResponse<byte[]> alice = mirror.get(blob(), "Authorization", ALICE);
        assertThat(alice.statusCode()).isEqualTo(200);
        assertThat(alice.body()).isEqualTo(content);
        long sent = registry.blobBytes.get();

        HttpResponse<byte[]> anonymous = mirror.get(blob());
        assertThat(anonymous.statusCode()).isEqualTo(401);
        assertThat(anonymous.headers().firstValue("WWW-Authenticate")).contains(CHALLENGE);
        assertThat(new String(anonymous.body())).isEqualTo(DENIED);
        assertThat(anonymous.headers().firstValue(Exchange.REASON)).contains("unauthorized");

        HttpResponse<byte[]> mallory = mirror.get(blob(), "Authorization", "Bearer mallory");
        assertThat(mallory.statusCode()).isEqualTo(403);
        assertThat(new String(mallory.body())).contains("DENIED");

        HttpResponse<Void> head = mirror.head(blob(), "Authorization", "Bearer mallory");
        assertThat(head.statusCode()).isEqualTo(403);
        assertThat(registry.blobBytes.get()).as("no byte of the layer left the registry again").isEqualTo(sent);
    }

    @Test
    void aConfirmationIsRememberedForItsTtlPerCredential() throws Exception {
        mirror.get(blob(), "Authorization", ALICE);
        int checks = registry.requestsTo("HEAD", path).size();
        long sent = registry.blobBytes.get();

        assertThat(mirror.get(blob(), "Authorization", ALICE).body()).isEqualTo(content);
        // The last byte goes out once the digest matched, a moment before the task is durable and HEAD answers from it.
        await().atMost(Duration.ofSeconds(10)).until(() -> mirror.finished(digest.substring("sha256:".length())));
        assertThat(mirror.head(blob(), "Authorization", ALICE).headers().firstValue(Exchange.SOURCE)).contains("local");
        assertThat(registry.requestsTo("HEAD", path)).hasSize(checks);
        assertThat(registry.blobBytes.get()).as("the layer came from the registry once").isEqualTo(sent);

        clock.skip(Duration.ofMinutes(2));
        assertThat(mirror.get(blob(), "Authorization", ALICE).statusCode()).isEqualTo(200);
        assertThat(registry.requestsTo("HEAD", path)).as("asked again after the ttl").hasSize(checks + 1);
        assertThat(registry.blobBytes.get()).isEqualTo(sent);
    }

    @Test
    void aRevokedCredentialIsRefusedOnceItsConfirmationHasExpired() throws Exception {
        mirror.get(blob(), "Authorization", ALICE);
        registry.handle(path, s -> FakeRegistry.Answer.of(403, "{\"errors\":[{\"code\":\"DENIED\"}]}"));

        clock.skip(Duration.ofMinutes(2));
        assertThat(mirror.get(blob(), "Authorization", ALICE).statusCode()).isEqualTo(403);
    }

    @Test
    void whileTheRegistryIsDownARecentConfirmationStandsAndNoneIsInvented() throws Exception {
        mirror.get(blob(), "Authorization", ALICE);
        registry.before = s -> FakeRegistry.Answer.of(503, "down");
        clock.skip(Duration.ofMinutes(5));

        HttpResponse<byte[]> alice = mirror.get(blob(), "Authorization", ALICE);
        assertThat(alice.statusCode()).isEqualTo(200);
        assertThat(alice.body()).isEqualTo(content);

        HttpResponse<byte[]> stranger = mirror.get(blob(), "Authorization", "Bearer stranger");
        assertThat(stranger.statusCode()).isEqualTo(502);
        assertThat(stranger.headers().firstValue(Exchange.REASON)).contains("access_unconfirmed");
        assertThat(new String(stranger.body())).contains("could not confirm").contains("fix:");
        assertThat(stranger.body()).hasSizeLessThan(1000);

        clock.skip(Duration.ofHours(1));
        assertThat(mirror.get(blob(), "Authorization", ALICE).statusCode()).as("past offlineTTL").isEqualTo(502);
    }

    @Test
    void anOpenRegistryNeedsNoCheck() throws Exception {
        registry.handle("/v2/", s -> FakeRegistry.Answer.of(200, "{}"));
        registry.handle(path, s -> null);

        assertThat(mirror.get(blob()).body()).isEqualTo(content);
        assertThat(mirror.get(blob()).body()).isEqualTo(content);
        assertThat(registry.requestsTo("HEAD", path)).isEmpty();
        assertThat(registry.requestsTo("GET", "/v2/")).hasSize(1);
    }

    @Test
    void aPublicLayerBehindAnonymousTokensGoesToAnyoneWithNoCheckPerClientAndSurvivesAnOutage() throws Exception {
        // As Docker Hub: every request needs a Bearer token, and the realm hands one to anyone for a public repository.
        String pub = "/v2/library/pub/blobs/" + registry.blob("library/pub", content);
        String challenge = "Bearer realm=\"" + registry.base() + "/token\",service=\"registry\",scope=\"repository:library/pub:pull\"";
        registry.handle("/token", s -> FakeRegistry.Answer.of(200, "{\"token\":\"anonymous-token\"}"));
        registry.handle(pub, s -> s.header("Authorization").stream().anyMatch(a -> a.startsWith("Bearer "))
                ? null : FakeRegistry.Answer.of(401, DENIED, "WWW-Authenticate", challenge));
        URI uri = mirror.mirrorUri(pub, registry.hostPort());

        assertThat(mirror.get(uri, "Authorization", "Bearer token-of-client-1").body()).isEqualTo(content);
        int checks = registry.requestsTo("HEAD", pub).size();
        assertThat(registry.requestsTo("GET", "/token")).hasSize(1);
        assertThat(mirror.get(uri, "Authorization", "Bearer token-of-client-2").body()).isEqualTo(content);
        assertThat(registry.requestsTo("HEAD", pub)).as("public: no check per client").hasSize(checks);

        registry.before = s -> FakeRegistry.Answer.of(503, "down");
        clock.skip(Duration.ofHours(5));
        HttpResponse<byte[]> down = mirror.get(uri, "Authorization", "Bearer token-of-client-3");
        assertThat(down.statusCode()).isEqualTo(200);
        assertThat(down.body()).isEqualTo(content);
    }

    @Test
    void anAnonymousTokenThatOpensNothingLeavesTheCheckPerClient() throws Exception {
        String challenge = "Bearer realm=\"" + registry.base() + "/token\",service=\"registry\"";
        registry.handle("/token", s -> FakeRegistry.Answer.of(200, "{\"access_token\":\"anonymous-token\"}"));
        registry.handle(path, s -> s.header("Authorization").contains(ALICE) ? null
                : FakeRegistry.Answer.of(401, DENIED, "WWW-Authenticate", challenge));
        mirror.get(blob(), "Authorization", ALICE);

        assertThat(registry.requestsTo("GET", "/token").getFirst().query()).contains("scope=repository%3Aprivate%2Fapp%3Apull");
        assertThat(mirror.get(blob(), "Authorization", "Bearer anonymous-token").statusCode()).isEqualTo(401);
    }

    @Test
    void checksOffServeWhatIsHeldToAnyone() throws Exception {
        start(dev.pollen.agent.config.ProxyConfig.Authorization.off());
        mirror.get(blob(), "Authorization", ALICE);

        HttpResponse<byte[]> anonymous = mirror.get(blob());
        assertThat(anonymous.statusCode()).isEqualTo(200);
        assertThat(anonymous.body()).isEqualTo(content);
        assertThat(registry.requestsTo("HEAD", path)).isEmpty();
    }
}
