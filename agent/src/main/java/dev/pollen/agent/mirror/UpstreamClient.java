package dev.pollen.agent.mirror;

import dev.pollen.agent.origin.OriginClient;
import dev.pollen.agent.origin.OriginPolicy;
import dev.pollen.agent.origin.OriginTrust;
import dev.pollen.agent.origin.StallGuard;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Pass-through requests to a registry: any method, every header value as the client sent it (minus hop-by-hop ones
 * and {@code Host}, which is the upstream's), the answer's body streamed (never buffered). Redirects of GET and HEAD
 * are followed here, since containerd takes an unfollowed 3xx from a mirror as a failure: each hop is checked by the
 * {@link OriginPolicy}, relative {@code Location}s resolve against the hop, an https url redirected to plain http is
 * refused, and credentials are not sent once a hop leaves the scheme, host and port they were given for (the blob
 * storage behind a registry gets none). Other methods get the 3xx as the registry sent it.
 */
final class UpstreamClient implements AutoCloseable {
    private static final int MAX_REDIRECTS = 10;
    /** Set by the JDK client itself, or refused from callers. */
    private static final Set<String> NOT_FORWARDED = Set.of("host", "content-length", "expect", "connection", "upgrade");
    private static final Set<String> CREDENTIALS = Set.of("authorization", "proxy-authorization", "cookie");

    /** A request as forwarded: each header line of the client's, in order. */
    record Request(String method, URI uri, List<Map.Entry<String, String>> headers, Body body) {
    }

    /** A request body, streamed once to the first hop: none (length 0), of a known length, or chunked (-1). */
    record Body(InputStream stream, long length) {
        static final Body NONE = new Body(InputStream.nullInputStream(), 0);

        HttpRequest.BodyPublisher publisher() {
            if (length == 0) {
                return HttpRequest.BodyPublishers.noBody();
            }
            HttpRequest.BodyPublisher streamed = HttpRequest.BodyPublishers.ofInputStream(() -> stream);
            return length < 0 ? streamed : HttpRequest.BodyPublishers.fromPublisher(streamed, length);
        }
    }

    /** The upstream's answer; the body is the caller's to read and close. */
    record Response(int status, Map<String, List<String>> headers, InputStream body, URI uri) {
    }

    private final HttpClient http;
    private final OriginPolicy policy;
    private final Duration responseTimeout;
    private final StallGuard stallGuard;

    /**
     * @param responseTimeout how long the registry may take to answer, then how long its body may stay silent
     */
    UpstreamClient(Duration connectTimeout, Duration responseTimeout, List<X509Certificate> caCerts, OriginPolicy policy) {
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(connectTimeout)
                .sslContext(OriginTrust.context(caCerts))
                .build();
        this.policy = policy;
        this.responseTimeout = responseTimeout;
        this.stallGuard = new StallGuard(responseTimeout);
    }

    Response send(Request request) throws IOException {
        boolean follow = request.method().equals("GET") || request.method().equals("HEAD");
        URI uri = request.uri();
        boolean credentials = true;
        for (int hop = 0; ; hop++) {
            policy.check(uri, hop > 0);
            HttpResponse<InputStream> response = exchange(request, uri, credentials, hop == 0);
            int status = response.statusCode();
            String location = response.headers().firstValue("Location").orElse(null);
            boolean redirect = follow && location != null && (status == 301 || status == 302 || status == 303 || status == 307
                    || status == 308);
            if (!redirect) {
                return new Response(status, response.headers().map(), stallGuard.guard(response.body(), uri), uri);
            }
            response.body().close();
            if (hop == MAX_REDIRECTS) {
                throw new IOException("more than " + MAX_REDIRECTS + " redirects from " + request.uri());
            }
            URI next = next(uri, location);
            if (!OriginClient.sameOrigin(uri, next)) {
                credentials = false;
            }
            uri = next;
        }
    }

    /** A probe's answer: the status and the headers, the body left unread. */
    record Probe(int status, Map<String, List<String>> headers) {
        List<String> header(String name) {
            return headers.entrySet().stream().filter(h -> h.getKey().equalsIgnoreCase(name)).findFirst()
                    .map(Map.Entry::getValue).orElse(List.of());
        }
    }

    /**
     * One request with no body and no redirect followed (a 3xx is the registry's answer), its body left unread.
     * The access check and the registry's ping ask this way.
     */
    Probe probe(String method, URI uri, List<Map.Entry<String, String>> headers) throws IOException {
        policy.check(uri, false);
        HttpResponse<InputStream> response = exchange(new Request(method, uri, headers, Body.NONE), uri, true, true);
        response.body().close();
        return new Probe(response.statusCode(), response.headers().map());
    }

    private static URI next(URI from, String location) throws IOException {
        URI next;
        try {
            next = from.resolve(location.trim());
        } catch (IllegalArgumentException e) {
            throw new IOException("registry " + from + " redirected to a malformed Location '" + Router.shorten(location) + "'");
        }
        String scheme = String.valueOf(next.getScheme()).toLowerCase(Locale.ROOT);
        if (!(scheme.equals("http") || scheme.equals("https")) || next.getHost() == null) {
            throw new IOException("registry " + from + " redirected to " + next + " (expected: an http or https url)");
        }
        if (from.getScheme().equalsIgnoreCase("https") && scheme.equals("http")) {
            throw new IOException("registry " + from + " redirected to plain http " + next + ": refused, it would send the request in clear");
        }
        return next;
    }

    /** @param firstHop whether the body goes with it: it is streamed once, and redirects are followed for GET and HEAD only */
    private HttpResponse<InputStream> exchange(Request request, URI uri, boolean credentials, boolean firstHop) throws IOException {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(responseTimeout)
                .method(request.method(), firstHop ? request.body().publisher() : HttpRequest.BodyPublishers.noBody());
        for (Map.Entry<String, String> h : request.headers()) {
            String name = h.getKey().toLowerCase(Locale.ROOT);
            if (NOT_FORWARDED.contains(name) || !credentials && CREDENTIALS.contains(name)) {
                continue;
            }
            b.header(h.getKey(), h.getValue());
        }
        try {
            return http.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while asking " + uri, e);
        } catch (IllegalArgumentException e) {
            throw new IOException("request to " + uri + " cannot be sent: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        http.shutdownNow();
    }
}
