package dev.pollen.agent.origin;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.config.CaCertificates;
import dev.pollen.agent.config.DownloadConfig;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.UnknownHostException;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * HTTP(S) requests to an origin: statuses turned into {@link PollenException}s that name the status and
 * url, transient failures (resets, timeouts, 408/429/5xx) retried with backoff, bodies streamed (never
 * buffered whole), so the same client serves piece downloads and pass-through streaming.
 *
 * <p>Transport: {@link OriginConnections}, HTTP/1.1 on Netty's event loops with keep-alive connections pooled per
 * origin; concurrent range requests travel on parallel connections. A body that stalls is cut there too: no byte for
 * {@code download.pieceTimeout} fails the read with a {@link SocketTimeoutException}, which is retried like any
 * timeout.
 *
 * <p>Redirects: this class follows up to {@value #MAX_REDIRECTS} by hand, so every hop is checked: by the {@link OriginPolicy} before it is
 * connected to; an https url redirected to plain http is refused (the request and its credentials would
 * travel in clear); and once a hop leaves the scheme, host and port it came from, credential headers
 * ({@code Authorization}, {@code Proxy-Authorization}, {@code Cookie}) are no longer sent, for the rest
 * of the chain. {@link #forwardableHeaders} applies the same rule to later requests made straight to
 * the redirect's target.
 *
 * <p>TLS: origins are verified against the JVM's trust store plus {@code download.backToSource.caCerts}
 * ({@link OriginTrust}).
 */
public final class OriginClient implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(OriginClient.class);
    private static final int MAX_REDIRECTS = 10;
    /** An unwanted body (a redirect's, an error page) is read this far for the connection's sake, then dropped. */
    private static final long DISCARD_LIMIT = 64 * 1024;
    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes\\s+(\\d+)-(\\d+)/(\\d+|\\*)");
    private static final Pattern UNSATISFIED_RANGE = Pattern.compile("bytes\\s+\\*/(\\d+)");
    /** Headers the client sets itself, or that would break the exchange. */
    private static final Set<String> RESTRICTED = Set.of("host", "connection", "content-length", "expect", "upgrade",
            "transfer-encoding", "range", "accept-encoding", "te", "trailer", "keep-alive", "proxy-connection");
    /** Headers that carry credentials: never sent to another origin than the one they were given for. */
    private static final Set<String> CREDENTIALS = Set.of("authorization", "proxy-authorization", "cookie");

    private final int retries;
    private final Backoff backoff;
    private final OriginPolicy policy;
    private final OriginConnections connections;

    public OriginClient(DownloadConfig config) {
        this(config, OriginPolicy.ALLOW_ALL);
    }

    public OriginClient(DownloadConfig config, OriginPolicy policy) {
        this(config.backToSource().retries(), new Backoff(config.backToSource().retryBackoff()),
                config.backToSource().connectTimeout(), config.pieceTimeout(),
                CaCertificates.readAll("download.backToSource.caCerts", config.backToSource().caCerts()), policy);
    }

    public OriginClient(int retries, Backoff backoff, Duration connectTimeout, Duration readTimeout) {
        this(retries, backoff, connectTimeout, readTimeout, List.of(), OriginPolicy.ALLOW_ALL);
    }

    /**
     * @param readTimeout how long the origin may take to answer a request, and then how long a body may
     *     stay silent (download.pieceTimeout)
     * @param caCerts CA certificates trusted for HTTPS origins besides the JVM's trust store
     */
    public OriginClient(int retries, Backoff backoff, Duration connectTimeout, Duration readTimeout,
                        List<X509Certificate> caCerts, OriginPolicy policy) {
        this.retries = retries;
        this.backoff = backoff;
        this.policy = policy;
        this.connections = new OriginConnections(connectTimeout, readTimeout, OriginTrust.context(caCerts));
    }

    /**
     * Asks for the first byte. A 206 tells the total length and that ranges work; a 200 means the
     * origin ignores ranges and its body is the whole content, which the caller should stream rather
     * than request again.
     */
    public OriginResponse probe(URI uri, Map<String, String> headers) {
        return withRetries(uri, () -> open(uri, headers, "bytes=0-0", true));
    }

    /**
     * {@link #probe} in one attempt: a download's first question, asked before its peers are, so an origin that is
     * down costs one attempt (peers may hold the task) rather than the whole retry budget.
     */
    public OriginResponse probeOnce(URI uri, Map<String, String> headers) {
        try {
            return open(uri, headers, "bytes=0-0", true);
        } catch (RetryableException e) {
            throw e.finalError();
        } catch (IOException e) {
            RuntimeException classified = classify(uri, e);
            throw classified instanceof RetryableException r ? r.finalError() : classified;
        }
    }

    /**
     * Bytes {@code from..to} inclusive, one attempt: the caller reads the body inside its own {@link #withRetries}
     * loop, which owns the retry budget (a retry inside it too would multiply the requests). A 200 answer (range
     * ignored) is returned as not partial.
     */
    public OriginResponse range(URI uri, Map<String, String> headers, long from, long to) throws IOException {
        return open(uri, headers, "bytes=" + from + "-" + to, false);
    }

    /** The whole content as one stream, for origins that do not serve ranges; one attempt, as {@link #range}. */
    public OriginResponse whole(URI uri, Map<String, String> headers) throws IOException {
        return open(uri, headers, null, false);
    }

    /**
     * The headers to send to {@code target}, the url {@code requested} led to by redirects: without the
     * credential headers when {@code target} is another origin (scheme, host or port), as during the
     * redirects themselves.
     */
    public static Map<String, String> forwardableHeaders(URI requested, URI target, Map<String, String> headers) {
        if (sameOrigin(requested, target)) {
            return headers;
        }
        Map<String, String> kept = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        headers.forEach((k, v) -> {
            if (!CREDENTIALS.contains(k.toLowerCase(Locale.ROOT))) {
                kept.put(k, v);
            }
        });
        return kept;
    }

    /** Runs {@code body} and retries it, from a fresh request, while the failure is transient. */
    public <T> T withRetries(URI uri, Attempt<T> body) {
        for (int attempt = 1; ; attempt++) {
            RetryableException failure;
            try {
                return body.run();
            } catch (RetryableException e) {
                failure = e;
            } catch (IOException e) {
                RuntimeException classified = classify(uri, e);
                if (!(classified instanceof RetryableException r)) {
                    throw classified;
                }
                failure = r;
            }
            if (attempt > retries) {
                throw failure.finalError();
            }
            log.debug("event=origin_retry url={} attempt={} cause=\"{}\"", uri, attempt, failure.getMessage());
            try {
                backoff.pause(attempt);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw new PollenException(ErrorCode.INTERNAL, "interrupted while retrying " + uri, ie);
            }
        }
    }

    private OriginResponse open(URI start, Map<String, String> headers, String range, boolean probe) throws IOException {
        URI uri = start;
        boolean credentials = true;
        for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
            policy.check(uri, hop > 0);
            OriginExchange response = connections.get(uri, request(uri, headers, range, credentials));
            int status = response.status();
            if (status >= 300 && status < 400 && status != 304) {
                String location = response.headers().get("Location");
                discard(response);
                if (location == null) {
                    throw new PollenException(ErrorCode.ORIGIN_STATUS, "origin answered " + status
                            + " without a Location header for " + uri, status, null);
                }
                URI next = redirectTarget(uri, location, status);
                if (credentials && !sameOrigin(uri, next)) {
                    credentials = false;
                    log.debug("event=origin_redirect_credentials_dropped from={} to={}", uri, next);
                }
                uri = next;
                continue;
            }
            return response(uri, response, status, probe);
        }
        throw new PollenException(ErrorCode.ORIGIN_STATUS, "more than " + MAX_REDIRECTS + " redirects from " + start);
    }

    private static URI redirectTarget(URI from, String location, int status) {
        URI next;
        try {
            next = from.resolve(location.trim());
        } catch (IllegalArgumentException e) {
            throw new PollenException(ErrorCode.ORIGIN_STATUS, "origin " + from + " answered " + status
                    + " with a malformed Location '" + location + "'", status, null);
        }
        String scheme = String.valueOf(next.getScheme()).toLowerCase(Locale.ROOT);
        if ((!scheme.equals("http") && !scheme.equals("https")) || next.getHost() == null) {
            throw new PollenException(ErrorCode.ORIGIN_STATUS, "origin " + from + " redirected to " + next
                    + " (expected: an http or https url)", status, null);
        }
        if ("https".equalsIgnoreCase(from.getScheme()) && scheme.equals("http")) {
            throw new PollenException(ErrorCode.ORIGIN_STATUS, "origin " + from + " redirected to " + next
                    + ": an https url redirected to plain http is refused, it would send the request in clear "
                    + "(fix: ask for the http url directly if that is intended, or fix the origin's redirect)", status, null);
        }
        return next;
    }

    /** Same scheme, host and port (default ports filled in): where a credential may be sent again. */
    public static boolean sameOrigin(URI a, URI b) {
        return String.valueOf(a.getScheme()).equalsIgnoreCase(String.valueOf(b.getScheme()))
                && String.valueOf(a.getHost()).equalsIgnoreCase(String.valueOf(b.getHost()))
                && port(a) == port(b);
    }

    private static int port(URI uri) {
        if (uri.getPort() != -1) {
            return uri.getPort();
        }
        return "https".equalsIgnoreCase(uri.getScheme()) ? 443 : 80;
    }

    private static HttpHeaders request(URI uri, Map<String, String> headers, String range, boolean credentials) {
        if (uri.getHost() == null || !("http".equalsIgnoreCase(uri.getScheme()) || "https".equalsIgnoreCase(uri.getScheme()))) {
            throw new PollenException(ErrorCode.INVALID_ARGUMENT, "url " + uri + " cannot be requested: expected an http or https url with a host");
        }
        HttpHeaders sent = new DefaultHttpHeaders();
        headers.forEach((name, value) -> {
            String key = name.toLowerCase(Locale.ROOT);
            if (RESTRICTED.contains(key) || !credentials && CREDENTIALS.contains(key)) {
                return;
            }
            String problem = headerProblem(name, value);
            if (problem != null) {
                throw new PollenException(ErrorCode.INVALID_ARGUMENT, "request header '" + name + "' cannot be sent to "
                        + uri + ": " + problem + " (fix: drop or correct the -H header)");
            }
            sent.add(name, value);
        });
        sent.set("Accept-Encoding", "identity");
        if (range != null) {
            sent.set("Range", range);
        }
        return sent;
    }

    private OriginResponse response(URI uri, OriginExchange response, int status, boolean probe) {
        Map<String, List<String>> headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        response.headers().names().forEach(name -> headers.put(name, List.copyOf(response.headers().getAll(name))));
        String contentRange = Objects.requireNonNullElse(response.headers().get("Content-Range"), "");
        if (status == 206) {
            Matcher m = CONTENT_RANGE.matcher(contentRange);
            long total = m.find() && !m.group(3).equals("*") ? Long.parseLong(m.group(3)) : -1;
            return new OriginResponse(uri, true, total, headers, response);
        }
        if (status == 200) {
            long length = contentLength(response.headers().get("Content-Length"));
            return new OriginResponse(uri, false, length, headers, response);
        }
        discard(response);
        if (status == 416 && probe) {
            Matcher m = UNSATISFIED_RANGE.matcher(contentRange);
            if (m.find() && Long.parseLong(m.group(1)) == 0) {
                return new OriginResponse(uri, true, 0, headers, InputStream.nullInputStream());
            }
        }
        String message = "origin answered " + status + " for " + uri;
        Map<String, String> shown = errorHeaders(headers);
        if (status == 404 || status == 410) {
            throw new PollenException(ErrorCode.ORIGIN_NOT_FOUND, message, status, shown, null);
        }
        if (status == 401 || status == 403) {
            throw new PollenException(ErrorCode.ORIGIN_DENIED, message + " (fix: pass credentials with -H 'Authorization: ...')",
                    status, shown, null);
        }
        PollenException error = new PollenException(ErrorCode.ORIGIN_STATUS, message, status, shown, null);
        if (status >= 500 || status == 408 || status == 429) {
            throw new RetryableException(error);
        }
        throw error;
    }

    /**
     * An error answer's headers as Dragonfly's dfdaemon reports them (headermap_to_hashmap): lower-case names, values
     * of visible ASCII only, several values of one name joined. Credentials the origin sets are left out.
     */
    static Map<String, String> errorHeaders(Map<String, List<String>> headers) {
        Map<String, String> shown = new TreeMap<>();
        headers.forEach((name, values) -> {
            String lower = name.toLowerCase(Locale.ROOT);
            String value = String.join(", ", values);
            if (!lower.startsWith(":") && !lower.equals("set-cookie") && value.chars().allMatch(c -> c >= 0x20 && c < 0x7f)) {
                shown.put(lower, value);
            }
        });
        return shown;
    }

    /** Reads a small unwanted body to its end so the connection goes back to the pool; a large one is dropped with it. */
    private static void discard(OriginExchange response) {
        try (InputStream in = response) {
            byte[] chunk = new byte[8192];
            long read = 0;
            for (int n; read <= DISCARD_LIMIT && (n = in.read(chunk)) >= 0; ) {
                read += n;
            }
        } catch (IOException e) {
            // the connection is closed with the body: nothing else to do
        }
    }

    /** Turns a transport failure into an error; those that may pass are retried. */
    public static RuntimeException classify(URI uri, IOException e) {
        if (has(e, UnknownHostException.class) || has(e, UnresolvedAddressException.class)) {
            return new PollenException(ErrorCode.ORIGIN_UNREACHABLE, "cannot resolve origin host " + uri.getHost()
                    + " of " + uri + " (fix: check the url or the node's DNS)", e);
        }
        if (has(e, SSLException.class)) {
            return new PollenException(ErrorCode.ORIGIN_UNREACHABLE, "TLS with origin " + uri + " failed: " + describe(e)
                    + " (fix: add the origin's CA to download.backToSource.caCerts if it is a private one)", e);
        }
        if (e instanceof HttpConnectTimeoutException) {
            return retryable("cannot connect to origin " + uri + ": connect timed out (download.backToSource.connectTimeout)", e);
        }
        if (e instanceof HttpTimeoutException) {
            return retryable("origin " + uri + " did not answer within the piece timeout (download.pieceTimeout)", e);
        }
        if (e instanceof ConnectException) {
            return retryable("cannot connect to origin " + uri + ": " + describe(e), e);
        }
        if (e instanceof SocketTimeoutException) {
            return retryable("origin " + uri + " timed out: " + e.getMessage(), e);
        }
        return retryable("reading from origin " + uri + " failed: " + describe(e), e);
    }

    private static RetryableException retryable(String message, IOException cause) {
        return new RetryableException(new PollenException(ErrorCode.ORIGIN_UNREACHABLE, message, cause));
    }

    private static boolean has(Throwable t, Class<? extends Throwable> type) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (type.isInstance(c)) {
                return true;
            }
        }
        return false;
    }

    /** The first message in the cause chain (the JDK client often throws with none), else the innermost type. */
    private static String describe(Throwable t) {
        Throwable last = t;
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c.getMessage() != null && !c.getMessage().isBlank()) {
                return c.getMessage();
            }
            last = c;
        }
        return last.getClass().getSimpleName();
    }

    /** Why a header cannot go on the wire as given (RFC 9110: a name is a token, a value has no control characters), or null. */
    private static String headerProblem(String name, String value) {
        if (name.isEmpty() || !name.chars().allMatch(c -> c > 0x20 && c < 0x7f && "\"(),/:;<=>?@[\\]{}".indexOf(c) < 0)) {
            return "the name is not a valid HTTP token";
        }
        if (!value.chars().allMatch(c -> c == '\t' || c >= 0x20 && c != 0x7f)) {
            return "the value holds a control character (a line break?)";
        }
        return null;
    }

    private static long contentLength(String value) {
        try {
            return value == null ? -1 : Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    @Override
    public void close() {
        connections.close();
    }

    @FunctionalInterface
    public interface Attempt<T> {
        T run() throws IOException;
    }

    /** A failure worth another attempt; carries the error to report when attempts run out. */
    public static final class RetryableException extends RuntimeException {
        private final PollenException finalError;

        public RetryableException(PollenException finalError) {
            super(finalError.getMessage(), finalError.getCause(), false, false);
            this.finalError = finalError;
        }

        PollenException finalError() {
            return finalError;
        }
    }
}
