package dev.pollen.agent.preheat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Iterator;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Credentials from a docker {@code config.json}'s {@code auths} (what {@code docker login} writes): an entry
 * whose key names the registry, with or without a scheme and path ({@code https://index.docker.io/v1/} for
 * Docker Hub), holding {@code auth} (base64 of {@code user:password}) or {@code username} and {@code password}.
 * Credential helpers ({@code credsStore}, {@code credHelpers}) are not run.
 */
final class DockerConfig {
    private static final Set<String> DOCKER_HUB_KEYS = Set.of("index.docker.io", "docker.io", "registry-1.docker.io");

    private DockerConfig() {
    }

    static Optional<Credentials> lookup(Path file, String registry) throws IOException {
        JsonNode auths = new ObjectMapper().readTree(Files.readAllBytes(file)).path("auths");
        for (Iterator<Map.Entry<String, JsonNode>> it = auths.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (names(e.getKey(), registry)) {
                return credentials(e.getValue(), file, e.getKey());
            }
        }
        return Optional.empty();
    }

    private static boolean names(String key, String registry) {
        String host = key.replaceFirst("^https?://", "");
        int slash = host.indexOf('/');
        host = slash >= 0 ? host.substring(0, slash) : host;
        return registry.equals(ImageReference.DOCKER_HUB) ? DOCKER_HUB_KEYS.contains(host) : host.equals(registry);
    }

    private static Optional<Credentials> credentials(JsonNode entry, Path file, String key) throws IOException {
        String auth = entry.path("auth").asText("");
        if (!auth.isEmpty()) {
            String decoded;
            try {
                decoded = new String(Base64.getDecoder().decode(auth), StandardCharsets.UTF_8);
            } catch (IllegalArgumentException e) {
                throw new IOException(file + ": auths." + key + ".auth is not base64");
            }
            int colon = decoded.indexOf(':');
            if (colon < 0) {
                throw new IOException(file + ": auths." + key + ".auth is not base64 of user:password");
            }
            return Optional.of(new Credentials(decoded.substring(0, colon), decoded.substring(colon + 1)));
        }
        String user = entry.path("username").asText("");
        String password = entry.path("password").asText("");
        return user.isEmpty() ? Optional.empty() : Optional.of(new Credentials(user, password));
    }
}
