package dev.pollen.agent.origin;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WwwAuthenticateTest {
    @Test
    void readsDockerHubsBearerChallenge() {
        List<WwwAuthenticate.Challenge> c = WwwAuthenticate.parse(
                "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/alpine:pull\"");
        assertThat(c).containsExactly(new WwwAuthenticate.Challenge("bearer", Map.of("realm", "https://auth.docker.io/token",
                "service", "registry.docker.io", "scope", "repository:library/alpine:pull")));
    }

    @Test
    void readsSeveralChallengesTokensSpacesAndEscapes() {
        List<WwwAuthenticate.Challenge> c = WwwAuthenticate.parse(
                "Basic realm=\"a \\\"quoted\\\" realm\" , Bearer  realm = https://r.example/t , Service=reg, error=\"insufficient_scope\"");
        assertThat(c).hasSize(2);
        assertThat(c.get(0)).isEqualTo(new WwwAuthenticate.Challenge("basic", Map.of("realm", "a \"quoted\" realm")));
        assertThat(c.get(1).scheme()).isEqualTo("bearer");
        assertThat(c.get(1).params()).containsEntry("realm", "https://r.example/t").containsEntry("service", "reg")
                .containsEntry("error", "insufficient_scope");
    }

    @Test
    void aSchemeWithoutParametersAndGarbageNeverThrow() {
        assertThat(WwwAuthenticate.parse("Negotiate")).containsExactly(new WwwAuthenticate.Challenge("negotiate", Map.of()));
        assertThat(WwwAuthenticate.parse("")).isEmpty();
        assertThat(WwwAuthenticate.parse(null)).isEmpty();
        assertThat(WwwAuthenticate.parse("Bearer realm=\"unterminated")).singleElement()
                .satisfies(ch -> assertThat(ch.param("realm")).isEqualTo("unterminated"));
        assertThat(WwwAuthenticate.parse("\"\"\"===,,,")).isEmpty();
        assertThat(WwwAuthenticate.parse("Bearer =x, realm=y")).first().satisfies(ch -> assertThat(ch.scheme()).isEqualTo("bearer"));
    }
}
