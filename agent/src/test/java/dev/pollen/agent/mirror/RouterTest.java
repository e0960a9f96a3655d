package dev.pollen.agent.mirror;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pollen.agent.config.ProxyConfig;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class RouterTest {
    private static final String DIGEST = "sha256:" + "ab".repeat(32);

    private static Router router(List<ProxyConfig.Rule> rules) {
        return new Router(new ProxyConfig(new ProxyConfig.Server(true, "127.0.0.1", 0, 1, Duration.ofSeconds(1)), rules,
                new ProxyConfig.RegistryMirror("https://default.example", List.of("127.0.0.1:5000", "plain.example")),
                ProxyConfig.Authorization.off(), ProxyConfig.Manifests.off()));
    }

    private static final Router ROUTER = router(List.of(new ProxyConfig.Rule("/v2/.*/blobs/sha256:.*", false, null)));

    @Test
    void dockerIoIsItsRegistryHostAndNsIsNotForwarded() {
        Route r = ROUTER.route("GET", "/v2/library/alpine/manifests/3?ns=docker.io", null);

        assertThat(r).isInstanceOf(Route.PassThrough.class);
        assertThat(r.upstream().toString()).isEqualTo("https://registry-1.docker.io/v2/library/alpine/manifests/3");
        assertThat(((Route.PassThrough) r).reason()).isEqualTo("not_a_blob");
    }

    @Test
    void insecureRegistriesAreSpokenToInPlainHttpByHostPortOrHost() {
        assertThat(ROUTER.route("GET", "/v2/?ns=127.0.0.1%3A5000", null).upstream().toString()).isEqualTo("http://127.0.0.1:5000/v2/");
        assertThat(ROUTER.route("GET", "/v2/?ns=plain.example:8080", null).upstream().toString())
                .isEqualTo("http://plain.example:8080/v2/");
        assertThat(ROUTER.route("GET", "/v2/?ns=ghcr.io", null).upstream().toString()).isEqualTo("https://ghcr.io/v2/");
    }

    @Test
    void withoutNsTheDragonflyHeaderThenTheDefaultNameTheRegistry() {
        assertThat(ROUTER.route("GET", "/v2/", "http://harbor.local:8080").upstream().toString()).isEqualTo("http://harbor.local:8080/v2/");
        assertThat(ROUTER.route("GET", "/v2/", null).upstream().toString()).isEqualTo("https://default.example/v2/");
        assertThat(ROUTER.route("GET", "/v2/?ns=ghcr.io", "http://harbor.local").upstream().getHost()).isEqualTo("ghcr.io");
    }

    @Test
    void aBlobGetByDigestGoesThroughP2pAndItsHeadToTheStore() {
        Route get = ROUTER.route("GET", "/v2/library/alpine/blobs/" + DIGEST + "?ns=docker.io", null);
        assertThat(get).isInstanceOf(Route.Blob.class);
        assertThat(((Route.Blob) get).digest().toString()).isEqualTo(DIGEST);
        assertThat(ROUTER.route("HEAD", "/v2/library/alpine/blobs/" + DIGEST + "?ns=docker.io", null)).isInstanceOf(Route.StoredHead.class);
        assertThat(ROUTER.route("DELETE", "/v2/library/alpine/blobs/" + DIGEST, null))
                .isEqualTo(new Route.PassThrough(ROUTER.route("DELETE", "/v2/library/alpine/blobs/" + DIGEST, null).upstream(), "method"));
    }

    @Test
    void aBlobNoRuleMatchesOrWithAnotherDigestPassesThroughSayingWhy() {
        Router none = router(List.of(new ProxyConfig.Rule("^https://only\\.example/", false, null)));
        assertThat(((Route.PassThrough) none.route("GET", "/v2/a/blobs/" + DIGEST, null)).reason()).isEqualTo("rule");
        assertThat(((Route.PassThrough) ROUTER.route("GET", "/v2/a/blobs/sha512:" + "a".repeat(128), null)).reason())
                .isEqualTo("bad_digest");
        assertThat(((Route.PassThrough) ROUTER.route("GET", "/v2/a/blobs/sha256:short", null)).reason()).isEqualTo("bad_digest");
    }

    @Test
    void forwardProxyRequestsKeepTheirUrlUnlessARuleRedirectsOrUpgradesThem() {
        assertThat(ROUTER.route("GET", "http://files.example/x", null).upstream().toString()).isEqualTo("http://files.example/x");
        Router tls = router(List.of(new ProxyConfig.Rule("blobs/sha256:", true, null)));
        assertThat(tls.route("GET", "http://r.example/v2/a/blobs/" + DIGEST, null).upstream().toString())
                .isEqualTo("https://r.example/v2/a/blobs/" + DIGEST);
        Router redirect = router(List.of(new ProxyConfig.Rule("blobs/sha256:", false, "https://mirror.example")));
        assertThat(redirect.route("GET", "http://r.example/v2/a/blobs/" + DIGEST + "?x=1", null).upstream().toString())
                .isEqualTo("https://mirror.example/v2/a/blobs/" + DIGEST + "?x=1");
    }

    @Test
    void targetsThatNameNoRegistryAreRefused() {
        assertThatThrownBy(() -> ROUTER.route("GET", "/v2/?ns=a/b", null)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("ns=a/b");
        assertThatThrownBy(() -> ROUTER.route("GET", "/v2/", "ftp://x")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("X-Dragonfly-Registry");
        assertThatThrownBy(() -> ROUTER.route("GET", "*", null)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ROUTER.route("GET", "/v2/a b", null)).isInstanceOf(IllegalArgumentException.class);
    }
}
