package dev.pollen.agent.mirror;

import dev.pollen.agent.config.ProxyConfig;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.storage.ManifestStore;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.time.Clock;
import java.time.Instant;
import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Manifests, so that a node can start pods whose layers are in the swarm while their registry is down. A manifest by
 * digest never changes: once the registry has sent it (and it hashes to its digest) the store answers for it, to
 * clients the registry lets into the repository ({@link AccessCheck}). A tag's answer (digest, media type, length)
 * is remembered per registry, repository, tag and {@code Accept} (the same tag names an index for one client and a
 * manifest for another): a registry that needs no check is spared the question for {@code tagTTL}, and when the
 * registry is unreachable or answers 5xx, the last answer is served for up to {@code maxStale}
 * ({@code X-Pollen-Reason: stale_if_error}) to clients it let into the repository within
 * {@code proxy.authorization.offlineTTL}. Everything else the registry says (401, 404, ...) goes to the client as sent.
 */
final class ManifestResponder {
    private static final Logger log = LoggerFactory.getLogger(ManifestResponder.class);
    private static final String DIGEST_HEADER = "Docker-Content-Digest";
    private static final int TAGS_REMEMBERED = 10_000;

    /** What the registry answered for a tag. */
    private record TagAnswer(String digest, String mediaType, long length, Instant fetchedAt) {
        String hex() {
            return digest.startsWith("sha256:") ? digest.substring(7) : "";
        }
    }

    private final ManifestStore store;
    private final ProxyConfig.Manifests config;
    private final AccessCheck access;
    private final PassThrough passThrough;
    private final Clock clock;
    private final LruMap<TagAnswer> tags = new LruMap<>(TAGS_REMEMBERED);

    ManifestResponder(ManifestStore store, ProxyConfig.Manifests config, AccessCheck access, PassThrough passThrough, Clock clock) {
        this.store = store;
        this.config = config;
        this.access = access;
        this.passThrough = passThrough;
        this.clock = clock;
    }

    /** @return whether the connection may serve another request */
    boolean respond(Exchange ex, Route.Manifest route) throws IOException {
        ex.route = "manifest";
        ex.upstream = route.upstream().toString();
        String hex = route.object().sha256Hex();
        if (hex != null) {
            ManifestStore.Manifest stored = stored(hex);
            if (stored == null) {
                return fetch(ex, route, null, null);
            }
            Optional<Boolean> refused = access.refusal(ex, route.upstream(), route.object());
            if (refused.isPresent()) {
                return refused.get();
            }
            return serve(ex, "sha256:" + hex, stored.mediaType(), stored.body().length, stored.body(), "stored");
        }
        String key = tagKey(route.object(), ex);
        TagAnswer known = tags.get(key);
        if (known != null && clock.instant().isBefore(known.fetchedAt().plus(config.tagTTL())) && access.needsNoCheck(route.object())) {
            Optional<Boolean> served = serveRemembered(ex, known, "tag_fresh");
            if (served.isPresent()) {
                return served.get();
            }
        }
        return fetch(ex, route, key, known);
    }

    /**
     * Asks the registry; keeps what a 2xx says; when it gives no answer or a 5xx, serves what is remembered if it may.
     *
     * @param tagKey null for a manifest by digest
     */
    private boolean fetch(Exchange ex, Route.Manifest route, String tagKey, TagAnswer known) throws IOException {
        String reason = tagKey == null ? "not_stored" : "tag";
        UpstreamClient.Response answer;
        try {
            answer = passThrough.ask(ex, route.upstream());
        } catch (IOException | PollenException e) {
            Optional<Boolean> stale = stale(ex, route, known);
            return stale.isPresent() ? stale.get() : passThrough.unreachable(ex, route.upstream(), e, reason);
        }
        if (answer.status() >= 500) {
            Optional<Boolean> stale = stale(ex, route, known);
            if (stale.isPresent()) {
                answer.body().close();
                return stale.get();
            }
        }
        if (answer.status() / 100 != 2) {
            return passThrough.relay(ex, answer, reason);
        }
        access.served(ex, route.object());
        String digest = header(answer, DIGEST_HEADER);
        String type = header(answer, "Content-Type");
        long length = parseLength(header(answer, "Content-Length"));
        if (!ex.method.equals("GET") || length < 0 || length > ManifestStore.MAX_BYTES) {
            if (tagKey != null && digest != null && length >= 0) {
                tags.put(tagKey, new TagAnswer(digest, type, length, clock.instant()));
            }
            return passThrough.relay(ex, answer, reason);
        }
        byte[] body = answer.body().readNBytes((int) length);
        String actual = keep(route.object(), digest, type, body);
        if (tagKey != null && actual != null) {
            tags.put(tagKey, new TagAnswer(actual, type, body.length, clock.instant()));
        }
        InputStream rest = answer.body();
        return passThrough.relay(ex, new UpstreamClient.Response(answer.status(), answer.headers(),
                new SequenceInputStream(new ByteArrayInputStream(body), rest), answer.uri()), reason);
    }

    /**
     * Stores a manifest the registry sent, if its bytes are its digest (the one asked for, and the one the registry
     * named). A local fault (a full disk) costs the copy, never the client's answer.
     *
     * @return its digest, or null when it is not kept
     */
    private String keep(RegistryObject object, String named, String type, byte[] body) {
        String actual = "sha256:" + ManifestStore.sha256(body);
        String asked = object.sha256Hex();
        if ((asked != null && !actual.equals("sha256:" + asked)) || (named != null && !named.equalsIgnoreCase(actual))) {
            log.warn("event=manifest_not_kept registry={} repository={} reference={} reason=digest_mismatch named={} actual={}",
                    object.registry(), object.repository(), object.reference(), named, actual);
            return null;
        }
        try {
            store.put(actual.substring(7), type, body);
        } catch (IOException e) {
            log.warn("event=manifest_not_kept digest={} reason=local_write_failed error=\"{}\"", actual, e.toString());
        }
        return actual;
    }

    /** The remembered answer for a registry that did not answer, when there is one and this client may have it. */
    private Optional<Boolean> stale(Exchange ex, Route.Manifest route, TagAnswer known) throws IOException {
        if (known == null || !config.staleIfError() || !clock.instant().isBefore(known.fetchedAt().plus(config.maxStale()))
                || !access.mayServeOffline(ex, route.object())) {
            return Optional.empty();
        }
        Optional<Boolean> served = serveRemembered(ex, known, "stale_if_error");
        if (served.isPresent()) {
            log.info("event=manifest_stale_if_error registry={} repository={} tag={} digest={} age_s={}", route.object().registry(),
                    route.object().repository(), route.object().reference(), known.digest(),
                    java.time.Duration.between(known.fetchedAt(), clock.instant()).toSeconds());
        }
        return served;
    }

    /** A tag's remembered answer: HEAD from memory, GET only while the store holds the manifest. */
    private Optional<Boolean> serveRemembered(Exchange ex, TagAnswer known, String reason) throws IOException {
        if (ex.method.equals("HEAD")) {
            return Optional.of(serve(ex, known.digest(), known.mediaType(), known.length(), null, reason));
        }
        ManifestStore.Manifest stored = stored(known.hex());
        if (stored == null) {
            return Optional.empty();
        }
        return Optional.of(serve(ex, known.digest(), stored.mediaType(), stored.body().length, stored.body(), reason));
    }

    private boolean serve(Exchange ex, String digest, String mediaType, long length, byte[] body, String reason) throws IOException {
        boolean head = ex.method.equals("HEAD");
        FullHttpResponse response = new DefaultFullHttpResponse(ex.version, HttpResponseStatus.OK,
                head || body == null ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(body));
        if (mediaType != null && !mediaType.isEmpty()) {
            response.headers().set(HttpHeaderNames.CONTENT_TYPE, mediaType);
        }
        response.headers().set(HttpHeaderNames.CONTENT_LENGTH, length);
        response.headers().set(DIGEST_HEADER, digest);
        response.headers().set("Docker-Distribution-Api-Version", "registry/2.0");
        response.headers().set(Exchange.SOURCE, "local");
        response.headers().set(Exchange.REASON, reason);
        ex.connectionHeaders(response, ex.keepAlive);
        ex.status = 200;
        ex.source = "local";
        ex.reason = reason;
        ex.out.write(response, head ? 0 : length);
        ex.out.drain();
        return ex.keepAlive;
    }

    private ManifestStore.Manifest stored(String hex) {
        try {
            return store.get(hex);
        } catch (IOException e) {
            log.warn("event=manifest_read_failed digest=sha256:{} error=\"{}\"", hex, e.toString());
            return null;
        }
    }

    private static String tagKey(RegistryObject object, Exchange ex) {
        String accept = ex.headers.getAll(HttpHeaderNames.ACCEPT).stream()
                .flatMap(v -> Arrays.stream(v.split(",")))
                .map(v -> v.trim().toLowerCase(Locale.ROOT))
                .filter(v -> !v.isEmpty())
                .sorted().distinct().collect(Collectors.joining(","));
        return object.registry() + ' ' + object.repository() + ' ' + object.reference() + ' ' + accept;
    }

    private static String header(UpstreamClient.Response answer, String name) {
        for (var h : answer.headers().entrySet()) {
            if (h.getKey().equalsIgnoreCase(name) && !h.getValue().isEmpty()) {
                return h.getValue().getFirst();
            }
        }
        return null;
    }

    private static long parseLength(String value) {
        try {
            return value == null ? -1 : Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            return -1;
        }
    }
}
