package dev.pollen.agent.origin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import java.io.InputStream;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The origin client's redirects, credentials, stalls and connection pool, against in-process origins. */
class OriginClientTest {
    private static final Map<String, String> CREDENTIALS = Map.of("Authorization", "Bearer t0k", "Cookie", "session=s3cret",
            "Proxy-Authorization", "Basic cHJveHk=", "X-Trace", "kept");

    private final TestOrigin origin = new TestOrigin();
    private final TestOrigin other = new TestOrigin();

    OriginClientTest() throws Exception {
    }

    @AfterEach
    void tearDown() {
        origin.close();
        other.close();
    }

    private static OriginClient client(int retries, Duration readTimeout, OriginPolicy policy) {
        return new OriginClient(retries, new Backoff(Duration.ofMillis(10)), Duration.ofSeconds(2), readTimeout, List.of(), policy);
    }

    private static OriginClient client() {
        return client(0, Duration.ofSeconds(5), OriginPolicy.ALLOW_ALL);
    }

    private static byte[] random(int size) {
        byte[] b = new byte[size];
        new Random(size).nextBytes(b);
        return b;
    }

    private static byte[] read(OriginResponse response) throws java.io.IOException {
        try (InputStream body = response.body()) {
            return body.readAllBytes();
        }
    }

    @Test
    void aProbeOnceAsksOnceWhereAProbeRetries() {
        origin.serve("/busy", random(100));
        origin.failFirst("/busy", 10, 503);
        try (OriginClient client = client(3, Duration.ofSeconds(5), OriginPolicy.ALLOW_ALL)) {
            assertThatThrownBy(() -> client.probeOnce(URI.create(origin.url("/busy")), java.util.Map.of()))
                    .isInstanceOfSatisfying(dev.pollen.agent.error.PollenException.class,
                            e -> assertThat(e.originStatus()).isEqualTo(503));
            assertThat(origin.requestHeaders()).hasSize(1);
            assertThatThrownBy(() -> client.probe(URI.create(origin.url("/busy")), java.util.Map.of()))
                    .isInstanceOf(dev.pollen.agent.error.PollenException.class);
            assertThat(origin.requestHeaders()).as("the probe's retries").hasSize(1 + 4);
        }
    }

    // dragonflyoss/client dragonfly-client-backend http.rs: a failed answer's headers go with the BackendError
    // (headermap_to_hashmap), and Dragonfly's dfget prints them under "Header:".
    @Test
    void anErrorAnswersHeadersGoWithTheErrorInLowerCase() {
        origin.status("/gone", 404);
        try (OriginClient client = client()) {
            assertThatThrownBy(() -> client.probe(URI.create(origin.url("/gone")), java.util.Map.of()))
                    .isInstanceOfSatisfying(dev.pollen.agent.error.PollenException.class, e -> {
                        assertThat(e.originStatus()).isEqualTo(404);
                        assertThat(e.originHeaders()).isNotEmpty().containsKey("date")
                                .allSatisfy((name, value) -> assertThat(name).isLowerCase());
                    });
        }
    }

    @Test
    void credentialsAreNotSentToAnotherHostAfterARedirect() throws Exception {
        byte[] body = random(1000);
        other.serve("/real", body);
        origin.redirect("/moved", 302, other.url("/real"));
        try (OriginClient client = client()) {
            assertThat(read(client.range(URI.create(origin.url("/moved")), CREDENTIALS, 0, 999))).isEqualTo(body);
        }
        assertThat(origin.requestHeaders()).singleElement().satisfies(h -> {
            assertThat(h.get("Authorization")).containsExactly("Bearer t0k");
            assertThat(h.get("Cookie")).containsExactly("session=s3cret");
        });
        assertThat(other.requestHeaders()).singleElement().satisfies(h -> {
            assertThat(h).doesNotContainKeys("Authorization", "Cookie", "Proxy-authorization", "Proxy-Authorization");
            assertThat(h.get("X-trace")).containsExactly("kept");
        });
    }

    @Test
    void credentialsStayDroppedWhenTheChainComesBackToTheFirstHostViaAnother() throws Exception {
        byte[] body = random(10);
        origin.serve("/real", body);
        origin.redirect("/moved", 302, other.url("/bounce"));
        other.redirect("/bounce", 307, origin.url("/real"));
        try (OriginClient client = client()) {
            assertThat(read(client.range(URI.create(origin.url("/moved")), CREDENTIALS, 0, 9))).isEqualTo(body);
        }
        assertThat(origin.requestHeaders()).hasSize(2);
        assertThat(origin.requestHeaders().get(1)).doesNotContainKeys("Authorization", "Cookie");
        assertThat(other.requestHeaders()).singleElement().satisfies(h -> assertThat(h).doesNotContainKeys("Authorization", "Cookie"));
    }

    @Test
    void aSameHostRedirectKeepsTheCredentials() throws Exception {
        byte[] body = random(10);
        origin.serve("/real", body);
        origin.redirect("/moved", 301, origin.url("/real"));
        try (OriginClient client = client()) {
            assertThat(read(client.range(URI.create(origin.url("/moved")), CREDENTIALS, 0, 9))).isEqualTo(body);
        }
        assertThat(origin.requestHeaders()).hasSize(2).allSatisfy(h -> {
            assertThat(h.get("Authorization")).containsExactly("Bearer t0k");
            assertThat(h.get("Cookie")).containsExactly("session=s3cret");
        });
    }

    @Test
    void laterRequestsStraightToACrossHostTargetGoWithoutCredentials() {
        URI requested = URI.create(origin.url("/f"));
        assertThat(OriginClient.forwardableHeaders(requested, URI.create(other.url("/g")), CREDENTIALS))
                .containsOnlyKeys("X-Trace");
        assertThat(OriginClient.forwardableHeaders(requested, URI.create(origin.url("/g")), CREDENTIALS))
                .isEqualTo(CREDENTIALS);
        // Default ports count as the same origin; another scheme does not.
        assertThat(OriginClient.sameOrigin(URI.create("https://h/a"), URI.create("https://H:443/b"))).isTrue();
        assertThat(OriginClient.sameOrigin(URI.create("http://h/a"), URI.create("https://h/a"))).isFalse();
    }

    @Test
    void thePolicySeesEveryRedirectTargetBeforeItIsRequested() {
        other.serve("/real", random(10));
        origin.redirect("/moved", 302, other.url("/real"));
        List<String> checked = new CopyOnWriteArrayList<>();
        OriginPolicy denyOther = (uri, redirect) -> {
            checked.add(uri + " redirect=" + redirect);
            if (uri.getPort() == URI.create(other.url("/")).getPort()) {
                throw new PollenException(ErrorCode.INVALID_ARGUMENT, "origin " + uri + " is denied");
            }
        };
        try (OriginClient client = client(0, Duration.ofSeconds(5), denyOther)) {
            assertThatThrownBy(() -> client.range(URI.create(origin.url("/moved")), Map.of(), 0, 9))
                    .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.INVALID_ARGUMENT))
                    .hasMessageContaining("is denied");
        }
        assertThat(checked).containsExactly(origin.url("/moved") + " redirect=false", other.url("/real") + " redirect=true");
        assertThat(other.requestHeaders()).isEmpty();
    }

    @Test
    void aStalledBodyFailsWithinThePieceTimeoutAndIsRetried() throws Exception {
        byte[] body = random(256 * 1024);
        origin.serve("/f", body);
        origin.stallFirst(1);
        Duration pieceTimeout = Duration.ofSeconds(1);
        try (OriginClient client = client(2, pieceTimeout, OriginPolicy.ALLOW_ALL)) {
            URI uri = URI.create(origin.url("/f"));
            long started = System.nanoTime();
            byte[] got = client.withRetries(uri, () -> read(client.range(uri, Map.of(), 0, body.length - 1)));
            Duration took = Duration.ofNanos(System.nanoTime() - started);
            assertThat(got).isEqualTo(body);
            // One stall of the piece timeout (cut within a quarter of it), then the retry: far below the 60 s the origin stalls.
            assertThat(took).isBetween(pieceTimeout, pieceTimeout.multipliedBy(4));
        }
        assertThat(origin.requestHeaders()).hasSize(2);
    }

    @Test
    void aBodyThatStallsOnEveryAttemptEndsAsATimeoutNamingTheOrigin() {
        origin.serve("/f", random(64 * 1024));
        origin.stallFirst(10);
        try (OriginClient client = client(1, Duration.ofSeconds(1), OriginPolicy.ALLOW_ALL)) {
            URI uri = URI.create(origin.url("/f"));
            assertThatThrownBy(() -> client.withRetries(uri, () -> read(client.range(uri, Map.of(), 0, 65535))))
                    .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.ORIGIN_UNREACHABLE))
                    .hasMessageContaining("sent no bytes for 1000 ms").hasMessageContaining(uri.toString());
        }
        assertThat(origin.requestHeaders()).hasSize(2);
    }

    @Test
    void requestsReuseConnections() throws Exception {
        byte[] body = random(64 * 1024);
        origin.serve("/f", body);
        origin.redirect("/moved", 302, "/f");
        try (OriginClient client = client()) {
            for (int i = 0; i < 10; i++) {
                assertThat(read(client.range(URI.create(origin.url(i % 2 == 0 ? "/f" : "/moved")), Map.of(), i * 1000,
                        i * 1000 + 999))).hasSize(1000);
            }
            // A 404's body is drained too, so its connection goes back to the pool.
            assertThatThrownBy(() -> client.range(URI.create(origin.url("/missing")), Map.of(), 0, 0))
                    .isInstanceOf(PollenException.class);
        }
        assertThat(origin.requestHeaders()).hasSize(16);
        assertThat(origin.connections()).isLessThan(3);
    }

    @Test
    void aBadRequestHeaderIsTheCallersError() {
        origin.serve("/f", random(10));
        try (OriginClient client = client()) {
            assertThatThrownBy(() -> client.range(URI.create(origin.url("/f")), Map.of("X-Bad", "a\nb"), 0, 9))
                    .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.INVALID_ARGUMENT))
                    .hasMessageContaining("X-Bad");
        }
        assertThat(origin.requestHeaders()).isEmpty();
    }
}
