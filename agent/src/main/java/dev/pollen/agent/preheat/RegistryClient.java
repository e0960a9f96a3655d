package dev.pollen.agent.preheat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.pollen.agent.origin.WwwAuthenticate;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import javax.net.ssl.SSLException;

/**
 * Fetches manifests from an OCI distribution registry, with the token flow a registry asks for: a 401
 * whose {@code WWW-Authenticate} is {@code Bearer realm=…,service=…,scope=…} sends us to the realm for a
 * token (HTTP Basic with the credentials when there are any, anonymous otherwise), a {@code Basic} challenge
 * takes the credentials directly; the request is then made once more. The Authorization that worked is
 * kept: the seeds send it when they fetch the blobs.
 */
final class RegistryClient {
    static final String OCI_INDEX = "application/vnd.oci.image.index.v1+json";
    static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
    static final String DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
    static final String DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
    /** What containerd's resolver accepts (core/remotes/docker/resolver.go), in its order. */
    static final String MANIFEST_ACCEPT = String.join(", ", DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX, "*/*");
    /** containerd's limit for a manifest (MaxManifestSize). */
    static final int MAX_MANIFEST_BYTES = 4 * 1048 * 1048;
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(60);

    /** A manifest as served: its bytes and the media type of its {@code Content-Type}, parameters removed (empty when none). */
    record Fetched(byte[] body, String mediaType) {
    }

    private final HttpClient http;
    private final String scheme;
    private final Credentials credentials;
    private final ObjectMapper json = new ObjectMapper();
    private String authorization;

    /** @param credentials null for anonymous */
    RegistryClient(HttpClient http, boolean plainHttp, Credentials credentials) {
        this.http = http;
        this.scheme = plainHttp ? "http" : "https";
        this.credentials = credentials;
    }

    String scheme() {
        return scheme;
    }

    /** The Authorization header value that the registry accepted; empty when it asked for none. */
    Optional<String> authorization() {
        return Optional.ofNullable(authorization);
    }

    Fetched manifest(ImageReference image, String reference) throws RegistryException {
        String url = image.manifestUrl(scheme, reference);
        HttpResponse<InputStream> response = get(url, MANIFEST_ACCEPT, authorization, image);
        if (response.statusCode() == 401) {
            close(response);
            authorization = authorize(image, response);
            response = get(url, MANIFEST_ACCEPT, authorization, image);
            if (response.statusCode() == 401) {
                close(response);
                throw new RegistryException(credentials == null
                        ? "registry " + image.registry() + " needs credentials for " + image.repository()
                                + " (401; fix: --username with --password-stdin, or --registry-config)"
                        : "registry " + image.registry() + " refused the credentials of " + credentials.username() + " for "
                                + image.repository() + " (401)");
            }
        }
        int status = response.statusCode();
        if (status == 404) {
            close(response);
            throw new RegistryException("manifest " + reference + " not found in " + image.registry() + "/" + image.repository()
                    + " (404 from " + url + ")");
        }
        if (status == 403) {
            close(response);
            throw new RegistryException("registry " + image.registry() + " denies access to " + image.repository() + " (403)");
        }
        if (status != 200) {
            close(response);
            throw new RegistryException("registry " + image.registry() + " answered " + status + " for " + url);
        }
        String contentType = response.headers().firstValue("Content-Type").orElse("");
        int semicolon = contentType.indexOf(';');
        String mediaType = (semicolon >= 0 ? contentType.substring(0, semicolon) : contentType).strip().toLowerCase(Locale.ROOT);
        return new Fetched(readLimited(response, url), mediaType);
    }

    /** The Authorization for the retry the challenge asks for. */
    private String authorize(ImageReference image, HttpResponse<?> unauthorized) throws RegistryException {
        List<WwwAuthenticate.Challenge> challenges = unauthorized.headers().allValues("WWW-Authenticate").stream()
                .flatMap(h -> WwwAuthenticate.parse(h).stream()).toList();
        for (WwwAuthenticate.Challenge c : challenges) {
            if (c.scheme().equals("bearer") && c.param("realm") != null) {
                return "Bearer " + token(image, c);
            }
        }
        for (WwwAuthenticate.Challenge c : challenges) {
            if (c.scheme().equals("basic")) {
                if (credentials == null) {
                    throw new RegistryException("registry " + image.registry() + " needs credentials for " + image.repository()
                            + " (401, Basic; fix: --username with --password-stdin, or --registry-config)");
                }
                return credentials.basic();
            }
        }
        throw new RegistryException("registry " + image.registry() + " answered 401 without a Bearer or Basic challenge"
                + " (WWW-Authenticate: " + unauthorized.headers().allValues("WWW-Authenticate") + ")");
    }

    private String token(ImageReference image, WwwAuthenticate.Challenge bearer) throws RegistryException {
        URI realm;
        try {
            realm = URI.create(bearer.tokenUrl("repository:" + image.repository() + ":pull"));
        } catch (IllegalArgumentException e) {
            throw new RegistryException("registry " + image.registry() + " names a bad token realm " + bearer.param("realm"));
        }
        if (!"https".equals(realm.getScheme()) && !"http".equals(realm.getScheme())) {
            throw new RegistryException("registry " + image.registry() + " names a token realm that is not http(s): " + realm);
        }
        HttpResponse<InputStream> response = get(realm.toString(), "application/json", credentials == null ? null : credentials.basic(),
                image);
        if (response.statusCode() == 401 || response.statusCode() == 403) {
            close(response);
            throw new RegistryException(credentials == null
                    ? "registry " + image.registry() + " needs credentials for " + image.repository() + " (token endpoint answered "
                            + response.statusCode() + "; fix: --username with --password-stdin, or --registry-config)"
                    : "registry " + image.registry() + " refused the credentials of " + credentials.username() + " for "
                            + image.repository() + " (token endpoint answered " + response.statusCode() + ")");
        }
        if (response.statusCode() != 200) {
            close(response);
            throw new RegistryException("token endpoint " + realm.getHost() + " of registry " + image.registry() + " answered "
                    + response.statusCode());
        }
        try {
            JsonNode body = json.readTree(readLimited(response, realm.toString()));
            String token = body.path("token").asText(body.path("access_token").asText(""));
            if (token.isEmpty()) {
                throw new RegistryException("token endpoint " + realm.getHost() + " answered without a token");
            }
            return token;
        } catch (IOException e) {
            throw new RegistryException("token endpoint " + realm.getHost() + " answered something that is not JSON: " + e.getMessage());
        }
    }

    private HttpResponse<InputStream> get(String url, String accept, String auth, ImageReference image) throws RegistryException {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url)).timeout(REQUEST_TIMEOUT).header("Accept", accept)
                .header("User-Agent", "pollen-preheat/0.1.0");
        if (auth != null) {
            request.header("Authorization", auth);
        }
        try {
            return http.send(request.GET().build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (SSLException e) {
            throw new RegistryException("TLS with " + URI.create(url).getAuthority() + " failed: " + e.getMessage()
                    + " (fix: its CA in download.backToSource.caCerts of --config, or --plain-http for an http registry)", e);
        } catch (IOException e) {
            throw new RegistryException("cannot reach " + URI.create(url).getAuthority() + " for " + image.registry() + ": " + e
                    + (scheme.equals("https") ? " (fix: check the address; --plain-http for an http registry)" : ""), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RegistryException("interrupted", e);
        }
    }

    private static byte[] readLimited(HttpResponse<InputStream> response, String url) throws RegistryException {
        try (InputStream in = response.body()) {
            byte[] body = in.readNBytes(MAX_MANIFEST_BYTES + 1);
            if (body.length > MAX_MANIFEST_BYTES) {
                throw new RegistryException(url + " answered more than " + MAX_MANIFEST_BYTES + " bytes (the limit for a manifest)");
            }
            return body;
        } catch (IOException e) {
            throw new RegistryException("reading " + url + " failed: " + e, e);
        }
    }

    private static void close(HttpResponse<InputStream> response) {
        try {
            response.body().close();
        } catch (IOException e) {
            // the answer is not used; nothing to recover
        }
    }
}
