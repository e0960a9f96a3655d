package dev.pollen.agent.config;

import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * {@code proxy.*}: the registry mirror for containerd and the HTTP proxy (Dragonfly's {@code proxy} section and key
 * names where they exist). {@code server}: where it listens; {@code rules}: which urls go through P2P;
 * {@code registryMirror}: the upstream registry when a request names none, and which registries speak plain http.
 */
public record ProxyConfig(Server server, List<Rule> rules, RegistryMirror registryMirror, Authorization authorization,
                          Manifests manifests) {
    public ProxyConfig {
        Check.present("proxy.server", server);
        rules = List.copyOf(Check.present("proxy.rules", rules));
        Check.present("proxy.registryMirror", registryMirror);
        Check.present("proxy.authorization", authorization);
        Check.present("proxy.manifests", manifests);
    }

    /**
     * {@code proxy.authorization.*}: before a stored or P2P-fetched blob or manifest goes to a client, the registry
     * confirms that this client may read it (a HEAD with the client's credentials). Confirmations are kept per
     * credential, registry, repository and object: {@code ttl} for a client with credentials, {@code anonymousTTL}
     * for one without; while the registry cannot be asked, a confirmation younger than {@code offlineTTL} still
     * counts. {@code skipOpenRegistries}: a registry whose {@code /v2/} answers an anonymous client with 200 has no
     * authentication at all, and its objects are served with no check (asked again every {@code anonymousTTL}).
     */
    public record Authorization(boolean enable, int cacheSize, Duration ttl, Duration anonymousTTL, Duration offlineTTL,
                                boolean skipOpenRegistries) {
        public Authorization {
            Check.range("proxy.authorization.cacheSize", cacheSize, 1, 10_000_000);
            Check.positive("proxy.authorization.ttl", ttl);
            Check.positive("proxy.authorization.anonymousTTL", anonymousTTL);
            Check.positive("proxy.authorization.offlineTTL", offlineTTL);
        }

        /** No checks at all: every stored object is served to whoever asks (Dragonfly's and Spegel's behaviour). */
        public static Authorization off() {
            return new Authorization(false, 1, Duration.ofMinutes(1), Duration.ofMinutes(10), Duration.ofHours(1), true);
        }
    }

    /**
     * {@code proxy.manifests.*}: manifests fetched by digest are immutable and kept in the store; a tag's answer is
     * served from memory for {@code tagTTL} (registries that need no check only) and, when the registry is down or
     * answers 5xx and {@code staleIfError} is on, for up to {@code maxStale} after it was fetched.
     */
    public record Manifests(boolean enable, Duration tagTTL, boolean staleIfError, Duration maxStale) {
        public Manifests {
            Check.present("proxy.manifests.tagTTL", tagTTL);
            if (tagTTL.isNegative()) {
                throw ConfigException.invalid("proxy.manifests.tagTTL", Durations.format(tagTTL), "0s or a positive duration such as 10s");
            }
            Check.positive("proxy.manifests.maxStale", maxStale);
        }

        public static Manifests off() {
            return new Manifests(false, Duration.ZERO, false, Duration.ofHours(24));
        }
    }

    /**
     * {@code proxy.server.*}. Off by default; on loopback by default (Dragonfly listens on every address): containerd
     * on the same node reaches it there, and nobody else can use the node as an open proxy.
     *
     * @param idleTimeout a connection that sends nothing (no request, or a request that stalls) for this long is closed
     */
    public record Server(boolean enable, String ip, int port, int eventLoops, Duration idleTimeout) {
        public Server {
            Check.present("proxy.server.ip", ip);
            Check.range("proxy.server.port", port, 0, 65535);
            Check.range("proxy.server.eventLoops", eventLoops, 1, 64);
            Check.positive("proxy.server.idleTimeout", idleTimeout);
        }
    }

    /**
     * One of {@code proxy.rules}: a url that {@code regex} finds a match in goes through P2P. {@code useTLS} makes a
     * forward-proxied plain-http request go upstream over https; {@code redirect} (a base url such as
     * {@code https://mirror.example.com}) sends it to that scheme, host and port instead.
     */
    public record Rule(String regex, Boolean useTLS, String redirect) {
        public Rule {
            Check.present("proxy.rules[].regex", regex);
            try {
                Pattern.compile(regex);
            } catch (PatternSyntaxException e) {
                throw ConfigException.invalid("proxy.rules[].regex", regex, "a Java regular expression (" + e.getDescription() + ")");
            }
            useTLS = useTLS != null && useTLS;
            redirect = redirect == null || redirect.isBlank() ? null : baseUrl("proxy.rules[].redirect", redirect);
        }

        public Pattern pattern() {
            return Pattern.compile(regex);
        }
    }

    /**
     * {@code proxy.registryMirror.*}. {@code addr}: the registry a request goes to when it names none (no {@code ns}
     * query parameter, no {@code X-Dragonfly-Registry} header). A blob's task id is always its digest (Dragonfly's
     * {@code enableTaskIDBasedBlobDigest} on): one task per layer across registries and repositories.
     * {@code insecureRegistries}: registries ({@code host} or {@code host:port}) reached over plain http; every other
     * one over https, verified against the system trust store and {@code download.backToSource.caCerts}.
     */
    public record RegistryMirror(String addr, List<String> insecureRegistries) {
        public RegistryMirror {
            addr = baseUrl("proxy.registryMirror.addr", Check.present("proxy.registryMirror.addr", addr));
            insecureRegistries = Check.present("proxy.registryMirror.insecureRegistries", insecureRegistries).stream()
                    .map(r -> r.trim().toLowerCase(Locale.ROOT)).toList();
            for (String registry : insecureRegistries) {
                if (registry.isEmpty() || registry.contains("/")) {
                    throw ConfigException.invalid("proxy.registryMirror.insecureRegistries", registry, "host or host:port, e.g. 127.0.0.1:5000");
                }
            }
        }
    }

    /** An http(s) url with a host and nothing after it but an optional {@code /}, without the slash. */
    static String baseUrl(String key, String text) {
        try {
            URI uri = new URI(text.trim());
            String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
            boolean bare = uri.getRawPath() == null || uri.getRawPath().isEmpty() || uri.getRawPath().equals("/");
            if ((scheme.equals("http") || scheme.equals("https")) && uri.getHost() != null && bare && uri.getRawQuery() == null) {
                String s = uri.toString();
                return s.endsWith("/") ? s.substring(0, s.length() - 1) : s;
            }
        } catch (URISyntaxException e) {
            // reported below
        }
        throw ConfigException.invalid(key, text, "an http:// or https:// url with a host and no path, e.g. https://registry-1.docker.io");
    }
}
