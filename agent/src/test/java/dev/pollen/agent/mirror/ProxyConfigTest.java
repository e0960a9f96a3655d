package dev.pollen.agent.mirror;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pollen.agent.config.ConfigException;
import dev.pollen.agent.config.ConfigLoader;
import dev.pollen.agent.config.DaemonConfig;
import dev.pollen.agent.config.ProxyConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code proxy} section of dfdaemon.yaml, with Dragonfly's key names. */
class ProxyConfigTest {
    @TempDir
    Path dir;

    @Test
    void theDefaultIsOffOnLoopbackPort4001WithTheBlobRule() {
        ProxyConfig p = new ConfigLoader().load(null, Map.of(), Map.of()).proxy();

        assertThat(p.server().enable()).isFalse();
        assertThat(p.server().ip()).isEqualTo("127.0.0.1");
        assertThat(p.server().port()).isEqualTo(4001);
        assertThat(p.rules()).extracting(ProxyConfig.Rule::regex).containsExactly("/v2/.*/blobs/sha256:.*");
        assertThat(p.registryMirror().addr()).isEqualTo("https://registry-1.docker.io");
        assertThat(p.authorization()).isEqualTo(MirrorFixture.CHECKED);
        assertThat(p.manifests()).isEqualTo(MirrorFixture.KEPT);
    }

    @Test
    void aFileSetsServerRulesAndRegistries() throws Exception {
        Path file = dir.resolve("dfdaemon.yaml");
        Files.writeString(file, """
                proxy:
                  server:
                    enable: true
                    port: 5001
                  rules:
                    - regex: "blobs/sha256.*"
                      useTLS: true
                    - regex: "example"
                      redirect: "https://mirror.example/"
                  registryMirror:
                    addr: http://127.0.0.1:5000
                    insecureRegistries: [127.0.0.1:5000, Registry.Local]
                """);
        DaemonConfig c = new ConfigLoader().load(file, Map.of(), Map.of("proxy.server.ip", "0.0.0.0"));

        assertThat(c.proxy().server().enable()).isTrue();
        assertThat(c.proxy().server().port()).isEqualTo(5001);
        assertThat(c.proxy().server().ip()).isEqualTo("0.0.0.0");
        assertThat(c.proxy().rules()).containsExactly(new ProxyConfig.Rule("blobs/sha256.*", true, null),
                new ProxyConfig.Rule("example", false, "https://mirror.example"));
        assertThat(c.proxy().registryMirror().insecureRegistries()).containsExactly("127.0.0.1:5000", "registry.local");
    }

    @Test
    void badValuesNameTheirKey() throws Exception {
        Path file = dir.resolve("bad.yaml");
        Files.writeString(file, "proxy:\n  rules:\n    - regex: \"(\"\n");
        assertThatThrownBy(() -> new ConfigLoader().load(file, Map.of(), Map.of())).isInstanceOf(ConfigException.class)
                .hasMessageContaining("proxy.rules[].regex");
        assertThatThrownBy(() -> new ConfigLoader().load(null, Map.of(), Map.of("proxy.registryMirror.addr", "registry-1.docker.io")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("proxy.registryMirror.addr");
        for (Map.Entry<String, String> bad : Map.of("proxy.authorization.ttl", "0s", "proxy.authorization.cacheSize", "0",
                "proxy.authorization.offlineTTL", "-1s", "proxy.manifests.tagTTL", "-1s", "proxy.manifests.maxStale", "0s").entrySet()) {
            assertThatThrownBy(() -> new ConfigLoader().load(null, Map.of(), Map.of(bad.getKey(), bad.getValue())))
                    .isInstanceOf(ConfigException.class).hasMessageContaining(bad.getKey());
        }
        assertThat(new ConfigLoader().load(null, Map.of(), Map.of("proxy.manifests.tagTTL", "0s")).proxy().manifests().tagTTL()).isZero();
    }
}
