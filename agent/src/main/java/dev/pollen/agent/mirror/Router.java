package dev.pollen.agent.mirror;

import dev.pollen.agent.config.ProxyConfig;
import dev.pollen.agent.storage.ContentDigest;
import dev.pollen.agent.task.TaskIds;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Turns a request line into its {@link Route}. A mirror request (containerd's: origin-form, {@code ?ns=<registry>})
 * goes to the registry {@link Registries} picks, without {@code ns} (some registries answer 400 to it); an
 * absolute-form request (a client using this as an HTTP proxy) goes where it names, through a matching rule's
 * {@code redirect} or {@code useTLS}. Either way, a url that a rule matches and that names a blob by a sha256
 * digest goes through P2P, and GET or HEAD of a manifest is answered by the manifest store and tag memory
 * ({@code proxy.manifests.enable}).
 */
final class Router {
    /** A blob url whatever its digest: one whose digest is not sha256:<64 hex> is passed through for the registry to judge. */
    private static final Pattern ANY_BLOB = Pattern.compile("/v2/.+/blobs/[^/?]+$");

    private final Registries registries;
    private final List<ProxyConfig.Rule> rules;
    private final List<Pattern> patterns;
    private final boolean manifests;

    Router(ProxyConfig config) {
        this.manifests = config.manifests().enable();
        this.registries = new Registries(config.registryMirror());
        this.rules = config.rules();
        this.patterns = config.rules().stream().map(ProxyConfig.Rule::pattern).toList();
    }

    /**
     * @param registryHeader the request's {@code X-Dragonfly-Registry}, or null
     * @throws IllegalArgumentException when the target cannot be turned into an upstream url (a 400, with this message)
     */
    Route route(String method, String target, String registryHeader) {
        boolean absolute = target.regionMatches(true, 0, "http://", 0, 7) || target.regionMatches(true, 0, "https://", 0, 8);
        URI upstream = absolute ? forwarded(target) : mirrored(target, registryHeader);
        String url = upstream.toString();
        ContentDigest digest = TaskIds.blobDigest(url);
        RegistryObject object = RegistryObject.of(upstream);
        if (manifests && object != null && object.kind() == RegistryObject.Kind.MANIFEST && (method.equals("GET") || method.equals("HEAD"))) {
            return new Route.Manifest(upstream, object);
        }
        if (digest == null || object == null) {
            return new Route.PassThrough(upstream, ANY_BLOB.matcher(upstream.getRawPath()).find() ? "bad_digest" : "not_a_blob");
        }
        if (matchingRule(url) < 0) {
            return new Route.PassThrough(upstream, "rule");
        }
        return switch (method) {
            case "GET" -> new Route.Blob(upstream, digest, object);
            case "HEAD" -> new Route.StoredHead(upstream, digest, object);
            default -> new Route.PassThrough(upstream, "method");
        };
    }

    private int matchingRule(String url) {
        for (int i = 0; i < patterns.size(); i++) {
            if (patterns.get(i).matcher(url).find()) {
                return i;
            }
        }
        return -1;
    }

    private URI mirrored(String target, String registryHeader) {
        if (!target.startsWith("/")) {
            throw new IllegalArgumentException("request target " + shorten(target) + " is neither a path nor an http(s) url");
        }
        int q = target.indexOf('?');
        String path = q < 0 ? target : target.substring(0, q);
        String ns = null;
        List<String> kept = new ArrayList<>();
        if (q >= 0) {
            for (String pair : target.substring(q + 1).split("&")) {
                if (pair.isEmpty()) {
                    continue;
                }
                if (pair.startsWith("ns=") || pair.equals("ns")) {
                    ns = URLDecoder.decode(pair.substring(Math.min(3, pair.length())), StandardCharsets.UTF_8);
                } else {
                    kept.add(pair);
                }
            }
        }
        String base = registries.base(ns, registryHeader);
        return parse(base + path + (kept.isEmpty() ? "" : "?" + String.join("&", kept)));
    }

    /** A proxied url; the first rule it matches may send it elsewhere (redirect) or over TLS (useTLS). */
    private URI forwarded(String target) {
        URI uri = parse(target);
        if (uri.getHost() == null) {
            throw new IllegalArgumentException("request target " + shorten(target) + " has no host");
        }
        int rule = matchingRule(target);
        if (rule < 0) {
            return uri;
        }
        ProxyConfig.Rule r = rules.get(rule);
        String rest = uri.getRawPath() + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery());
        if (r.redirect() != null) {
            return parse(r.redirect() + rest);
        }
        if (r.useTLS() && uri.getScheme().toLowerCase(Locale.ROOT).equals("http")) {
            return parse("https://" + uri.getRawAuthority() + rest);
        }
        return uri;
    }

    private static URI parse(String url) {
        try {
            URI uri = new URI(url);
            if (uri.getHost() == null) {
                throw new IllegalArgumentException("upstream url " + shorten(url) + " has no host");
            }
            return uri;
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("malformed request target " + shorten(url) + ": " + e.getReason());
        }
    }

    /** A target as it may appear in a message: never the whole of an absurdly long one. */
    static String shorten(String s) {
        return s.length() <= 200 ? s : s.substring(0, 200) + "...";
    }
}
