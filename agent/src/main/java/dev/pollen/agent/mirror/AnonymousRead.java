package dev.pollen.agent.mirror;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.origin.WwwAuthenticate;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Whether anyone at all may read an object: the registry asked with no credentials, and, when it answers with a
 * Bearer challenge (Docker Hub does so even for public images), once more with a token its realm hands out to anonymous
 * clients. A public object needs no check per client, and stays servable while its registry is down.
 */
final class AnonymousRead {
    private static final int MAX_TOKEN_ANSWER = 64 * 1024;

    private final UpstreamClient upstream;
    private final ObjectMapper json = new ObjectMapper();

    AnonymousRead(UpstreamClient upstream) {
        this.upstream = upstream;
    }

    /**
     * @param headers the client's headers without its credentials (its {@code Accept} decides what a manifest is)
     * @return whether an anonymous client may read {@code uri}, or null when the registry could not say
     */
    Boolean allowed(URI uri, String repository, List<Map.Entry<String, String>> headers) {
        try {
            UpstreamClient.Probe first = upstream.probe("HEAD", uri, headers);
            if (first.status() != 401) {
                return verdict(first.status());
            }
            String token;
            try {
                token = anonymousToken(first, repository);
            } catch (IOException | PollenException e) {
                // The registry answered; its token realm gives nothing to anyone now.
                return false;
            }
            if (token == null) {
                return false;
            }
            List<Map.Entry<String, String>> withToken = new ArrayList<>(headers);
            withToken.add(Map.entry("Authorization", "Bearer " + token));
            return verdict(upstream.probe("HEAD", uri, withToken).status());
        } catch (IOException | PollenException e) {
            return null;
        }
    }

    private static Boolean verdict(int status) {
        return status >= 500 ? null : status < 400;
    }

    /** The token the challenge's realm gives a client with no credentials, or null if it gives none. */
    private String anonymousToken(UpstreamClient.Probe unauthorized, String repository) throws IOException {
        WwwAuthenticate.Challenge bearer = unauthorized.header("WWW-Authenticate").stream()
                .flatMap(h -> WwwAuthenticate.parse(h).stream())
                .filter(c -> c.scheme().equals("bearer") && c.param("realm") != null)
                .findFirst().orElse(null);
        if (bearer == null) {
            return null;
        }
        URI realm;
        try {
            realm = URI.create(bearer.tokenUrl("repository:" + repository + ":pull"));
        } catch (IllegalArgumentException e) {
            return null;
        }
        String scheme = String.valueOf(realm.getScheme()).toLowerCase(Locale.ROOT);
        if (!(scheme.equals("http") || scheme.equals("https")) || realm.getHost() == null) {
            return null;
        }
        UpstreamClient.Response answer = upstream.send(new UpstreamClient.Request("GET", realm,
                List.of(Map.entry("Accept", "application/json")), UpstreamClient.Body.NONE));
        try (InputStream body = answer.body()) {
            if (answer.status() != 200) {
                return null;
            }
            JsonNode token = json.readTree(body.readNBytes(MAX_TOKEN_ANSWER));
            String value = token.path("token").asText(token.path("access_token").asText(""));
            return value.isEmpty() ? null : value;
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            return null;
        }
    }
}
