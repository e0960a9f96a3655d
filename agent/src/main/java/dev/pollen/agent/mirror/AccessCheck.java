package dev.pollen.agent.mirror;

import dev.pollen.agent.config.ProxyConfig;
import dev.pollen.agent.error.PollenException;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Whether a client may be given an object this node holds (a layer another client pulled, a stored manifest): the
 * registry says so, asked with a HEAD of the object under the client's own headers, credentials included. Dragonfly
 * and Spegel serve a cached layer to anyone who names its digest; a layer pulled with credentials would then be
 * readable by every pod on every node. A 2xx or 3xx (a registry redirects to its storage only clients it let in) is a
 * yes, remembered per credential hash, registry, repository and object; a 4xx is the registry's no, never remembered
 * (the client fetches a token and asks again at once); a registry that cannot be asked leaves a recent yes standing
 * for {@code offlineTTL}, and otherwise no answer. A registry whose {@code /v2/} lets anonymous clients in has no
 * authentication: its objects need no check ({@code skipOpenRegistries}); nor does an object any anonymous client may
 * read ({@link AnonymousRead}: a public repository, also behind a registry that hands out anonymous tokens).
 */
final class AccessCheck {
    /** Headers of the client that are not for the check (the HEAD has no body, and no part of one). */
    private static final Set<String> NOT_FOR_CHECK = Set.of("range", "if-range", "x-pollen-source", "x-pollen-reason");
    private static final Set<String> CREDENTIALS = Set.of("authorization", "proxy-authorization", "cookie");

    sealed interface Verdict permits Allowed, Refused, Unconfirmed {
    }

    /** @param how {@code off}, {@code open}, {@code public}, {@code cached}, {@code confirmed} or {@code offline}, for the log line */
    record Allowed(String how) implements Verdict {
    }

    /** The registry refused this client with {@code status}: the client is to get the registry's own answer. */
    record Refused(int status) implements Verdict {
    }

    /** The registry could not be asked and no recent yes stands in for it. */
    record Unconfirmed(String cause) implements Verdict {
    }

    /** What a registry said about anonymous access, and when. */
    private record Learned(boolean yes, Instant learnedAt) {
    }

    private final ProxyConfig.Authorization config;
    private final UpstreamClient upstream;
    private final PassThrough passThrough;
    private final Clock clock;
    private final LruMap<Instant> cache;
    private final AnonymousRead anonymous;
    private final LruMap<Learned> publicObjects;
    private final Map<String, Learned> registries = new ConcurrentHashMap<>();

    AccessCheck(ProxyConfig.Authorization config, UpstreamClient upstream, PassThrough passThrough, Clock clock) {
        this.config = config;
        this.upstream = upstream;
        this.passThrough = passThrough;
        this.clock = clock;
        this.cache = new LruMap<>(config.cacheSize());
        this.anonymous = new AnonymousRead(upstream);
        this.publicObjects = new LruMap<>(config.cacheSize());
    }

    /**
     * Checks {@code client}'s access to {@code object} and answers a client that may not have it: the registry's own
     * refusal (its challenge and body: containerd's token flow needs them), or a 502 naming why.
     *
     * @return empty when the client may be given the object; else whether the connection may serve another request
     */
    Optional<Boolean> refusal(Exchange client, URI uri, RegistryObject object) throws IOException {
        return switch (check(client, uri, object)) {
            case Allowed allowed -> {
                client.access = allowed.how();
                yield Optional.empty();
            }
            case Refused refused -> {
                client.access = "refused";
                yield Optional.of(passThrough.forward(client, uri, "unauthorized"));
            }
            case Unconfirmed unconfirmed -> {
                client.access = "unconfirmed";
                yield Optional.of(Responses.error(client, HttpResponseStatus.BAD_GATEWAY, "access_unconfirmed", "registry "
                        + object.registry() + " could not confirm that this client may read " + object.repository() + "@"
                        + object.reference() + " (" + unconfirmed.cause() + "): this node gives what it holds only to clients the "
                        + "registry lets in (fix: bring the registry back, or set proxy.authorization.enable: false to trust "
                        + "every client of this node)"));
            }
        };
    }

    /** Whether {@code client} may be given {@code object}, held here, that {@code uri} names at its registry. */
    Verdict check(Exchange client, URI uri, RegistryObject object) {
        if (!config.enable()) {
            return new Allowed("off");
        }
        if (open(object)) {
            return new Allowed("open");
        }
        if (isPublic(uri, object, headers(client, false))) {
            return new Allowed("public");
        }
        String credential = credential(client);
        String key = objectKey(credential, object);
        Instant now = clock.instant();
        Instant at = cache.get(key);
        Duration ttl = credential.isEmpty() ? config.anonymousTTL() : config.ttl();
        if (at != null && now.isBefore(at.plus(ttl))) {
            return new Allowed("cached");
        }
        int status;
        try {
            status = upstream.probe("HEAD", uri, headers(client, true)).status();
        } catch (IOException | PollenException e) {
            return offline(at, now, e.getMessage());
        }
        if (status >= 500) {
            return offline(at, now, "it answered " + status);
        }
        if (status >= 400) {
            return new Refused(status);
        }
        confirm(credential, object, now);
        return new Allowed("confirmed");
    }

    /** The registry itself served {@code object} to {@code client} (a 2xx): as good as a check. */
    void served(Exchange client, RegistryObject object) {
        if (config.enable()) {
            confirm(credential(client), object, clock.instant());
        }
    }

    /**
     * Whether {@code client} may be given a remembered answer about {@code object}'s repository while its registry
     * cannot be asked: the registry had no authentication when last asked, or let this credential into the repository
     * within {@code offlineTTL}.
     */
    boolean mayServeOffline(Exchange client, RegistryObject object) {
        if (!config.enable()) {
            return true;
        }
        Learned known = registries.get(object.registry());
        Learned repository = publicObjects.get(repositoryKey("", object));
        if (config.skipOpenRegistries() && known != null && known.yes() || repository != null && repository.yes()) {
            return true;
        }
        Instant now = clock.instant();
        Instant at = cache.get(repositoryKey(credential(client), object));
        return at != null && now.isBefore(at.plus(config.offlineTTL()));
    }

    /** Whether objects of {@code object}'s registry go to clients with no check (checks off, or an open registry). */
    boolean needsNoCheck(RegistryObject object) {
        return !config.enable() || open(object);
    }

    private Verdict offline(Instant confirmedAt, Instant now, String cause) {
        if (confirmedAt != null && now.isBefore(confirmedAt.plus(config.offlineTTL()))) {
            return new Allowed("offline");
        }
        return new Unconfirmed(cause);
    }

    private void confirm(String credential, RegistryObject object, Instant now) {
        cache.put(objectKey(credential, object), now);
        cache.put(repositoryKey(credential, object), now);
    }

    /**
     * Whether the registry lets anonymous clients into {@code /v2/}, asked every {@code anonymousTTL}; while it cannot
     * be asked, what it last said holds (an open registry that is down has still given nobody credentials to check).
     */
    private boolean open(RegistryObject object) {
        if (!config.skipOpenRegistries()) {
            return false;
        }
        Instant now = clock.instant();
        Learned known = registries.get(object.registry());
        if (known != null && now.isBefore(known.learnedAt().plus(config.anonymousTTL()))) {
            return known.yes();
        }
        try {
            int status = upstream.probe("GET", object.ping(), List.of()).status();
            if (status == 200 || status == 401 || status == 403) {
                registries.put(object.registry(), new Learned(status == 200, now));
                return status == 200;
            }
        } catch (IOException | PollenException e) {
            // not learned now: what was known stands (below)
        }
        return known != null && known.yes();
    }

    /**
     * Whether an anonymous client may read the object (a public repository: Docker Hub's library images), asked every
     * {@code anonymousTTL}; while the registry cannot say, what it last said holds.
     */
    private boolean isPublic(URI uri, RegistryObject object, List<Map.Entry<String, String>> anonymousHeaders) {
        String key = objectKey("", object);
        Instant now = clock.instant();
        Learned known = publicObjects.get(key);
        if (known != null && now.isBefore(known.learnedAt().plus(config.anonymousTTL()))) {
            return known.yes();
        }
        Boolean allowed = anonymous.allowed(uri, object.repository(), anonymousHeaders);
        if (allowed == null) {
            return known != null && known.yes();
        }
        publicObjects.put(key, new Learned(allowed, now));
        if (allowed) {
            publicObjects.put(repositoryKey("", object), new Learned(true, now));
        }
        return allowed;
    }

    /** The client's headers for a check: with its credentials, or without them for the anonymous question. */
    private static List<Map.Entry<String, String>> headers(Exchange client, boolean credentials) {
        return client.forwardedHeaders().stream()
                .filter(h -> !NOT_FOR_CHECK.contains(h.getKey().toLowerCase(Locale.ROOT)))
                .filter(h -> credentials || !CREDENTIALS.contains(h.getKey().toLowerCase(Locale.ROOT)))
                .toList();
    }

    /** A hash of the client's credentials ({@code Authorization}, every value), or "" for an anonymous client. */
    private static String credential(Exchange client) {
        List<String> values = client.headers.getAll("Authorization");
        if (values.isEmpty()) {
            return "";
        }
        try {
            byte[] hash = MessageDigest.getInstance("SHA-256").digest(String.join("\n", values).getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(hash);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }

    private static String objectKey(String credential, RegistryObject object) {
        return repositoryKey(credential, object) + ' ' + object.kind() + ' ' + object.reference();
    }

    private static String repositoryKey(String credential, RegistryObject object) {
        return credential + ' ' + object.registry() + ' ' + object.repository();
    }
}
