package dev.pollen.agent.piece;

import dev.pollen.agent.ErrorCode;
import dev.pollen.agent.PollenException;
import dev.pollen.agent.config.DownloadConfig;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.HttpURLConnection;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * HTTP(S) requests to an origin: redirects followed by hand (relative Location and http↔https
 * included), statuses turned into {@link PollenException}s that name the status and url, and
 * transient failures (resets, timeouts, 408/429/5xx) retried with backoff.
 */
public final class OriginClient {
    private static final Logger log = LoggerFactory.getLogger(OriginClient.class);
    private static final int MAX_REDIRECTS = 10;
    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes\\s+(\\d+)-(\\d+)/(\\d+|\\*)");
    private static final Pattern UNSATISFIED_RANGE = Pattern.compile("bytes\\s+\\*/(\\d+)");
    /** Headers the JDK client sets itself and refuses from callers. */
    private static final Set<String> RESTRICTED = Set.of("host", "connection", "content-length", "expect", "upgrade",
            "transfer-encoding", "range");

    private final int retries;
    private final Backoff backoff;
    private final int connectTimeoutMillis;
    private final int readTimeoutMillis;

    public OriginClient(DownloadConfig config) {
        this(config.backToSource().retries(), new Backoff(config.backToSource().retryBackoff()),
                config.backToSource().connectTimeout(), config.pieceTimeout());
    }

    public OriginClient(int retries, Backoff backoff, Duration connectTimeout, Duration readTimeout) {
        this.retries = retries;
        this.backoff = backoff;
        this.connectTimeoutMillis = (int) connectTimeout.toMillis();
        this.readTimeoutMillis = (int) readTimeout.toMillis();
    }

    /**
     * Asks for the first byte. A 206 tells the total length and that ranges work; a 200 means the
     * origin ignores ranges and its body is the whole content, which the caller should stream rather
     * than request again.
     */
    public OriginResponse probe(URI uri, Map<String, String> headers) {
        return withRetries(uri, () -> open(uri, headers, "bytes=0-0", true));
    }

    /** Bytes {@code from..to} inclusive; a 200 answer (range ignored) is returned as not partial. */
    public OriginResponse range(URI uri, Map<String, String> headers, long from, long to) {
        return withRetries(uri, () -> open(uri, headers, "bytes=" + from + "-" + to, false));
    }

    /** The whole content as one stream, for origins that do not serve ranges. */
    public OriginResponse whole(URI uri, Map<String, String> headers) {
        return withRetries(uri, () -> open(uri, headers, null, false));
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
        for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
            HttpURLConnection conn = connect(uri, headers, range);
            int status;
            try {
                status = conn.getResponseCode();
            } catch (IOException e) {
                conn.disconnect();
                throw e;
            }
            if (status >= 300 && status < 400 && status != 304) {
                String location = conn.getHeaderField("Location");
                discard(conn);
                if (location == null) {
                    throw new PollenException(ErrorCode.ORIGIN_STATUS, "origin answered " + status
                            + " without a Location header for " + uri, status, null);
                }
                uri = uri.resolve(location);
                continue;
            }
            return response(uri, conn, status, probe);
        }
        throw new PollenException(ErrorCode.ORIGIN_STATUS, "more than " + MAX_REDIRECTS + " redirects from " + start);
    }

    private OriginResponse response(URI uri, HttpURLConnection conn, int status, boolean probe) throws IOException {
        Map<String, List<String>> headers = responseHeaders(conn);
        if (status == 206) {
            Matcher m = CONTENT_RANGE.matcher(String.valueOf(conn.getHeaderField("Content-Range")));
            long total = m.find() && !m.group(3).equals("*") ? Long.parseLong(m.group(3)) : -1;
            return new OriginResponse(uri, true, total, headers, conn.getInputStream());
        }
        if (status == 200) {
            return new OriginResponse(uri, false, conn.getContentLengthLong(), headers, conn.getInputStream());
        }
        if (status == 416 && probe) {
            Matcher m = UNSATISFIED_RANGE.matcher(String.valueOf(conn.getHeaderField("Content-Range")));
            if (m.find() && Long.parseLong(m.group(1)) == 0) {
                discard(conn);
                return new OriginResponse(uri, true, 0, headers, InputStream.nullInputStream());
            }
        }
        discard(conn);
        String message = "origin answered " + status + " for " + uri;
        if (status == 404 || status == 410) {
            throw new PollenException(ErrorCode.ORIGIN_NOT_FOUND, message, status, null);
        }
        if (status == 401 || status == 403) {
            throw new PollenException(ErrorCode.ORIGIN_DENIED, message + " (fix: pass credentials with -H 'Authorization: ...')",
                    status, null);
        }
        PollenException error = new PollenException(ErrorCode.ORIGIN_STATUS, message, status, null);
        if (status >= 500 || status == 408 || status == 429) {
            throw new RetryableException(error);
        }
        throw error;
    }

    private HttpURLConnection connect(URI uri, Map<String, String> headers, String range) throws IOException {
        HttpURLConnection conn = (HttpURLConnection) uri.toURL().openConnection();
        conn.setInstanceFollowRedirects(false);
        conn.setConnectTimeout(connectTimeoutMillis);
        conn.setReadTimeout(readTimeoutMillis);
        conn.setUseCaches(false);
        headers.forEach((k, v) -> {
            if (!RESTRICTED.contains(k.toLowerCase(Locale.ROOT))) {
                conn.setRequestProperty(k, v);
            }
        });
        conn.setRequestProperty("Accept-Encoding", "identity");
        if (range != null) {
            conn.setRequestProperty("Range", range);
        }
        return conn;
    }

    private static Map<String, List<String>> responseHeaders(HttpURLConnection conn) {
        Map<String, List<String>> headers = new java.util.TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        conn.getHeaderFields().forEach((k, v) -> {
            if (k != null) {
                headers.put(k, List.copyOf(v));
            }
        });
        return headers;
    }

    /** Reads an unwanted body to its end so the connection can be reused. */
    private static void discard(HttpURLConnection conn) {
        try (InputStream in = conn.getErrorStream() != null ? conn.getErrorStream() : conn.getInputStream()) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
        } catch (IOException e) {
            conn.disconnect();
        }
    }

    /** Turns a transport failure into an error; those that may pass are retried. */
    public static RuntimeException classify(URI uri, IOException e) {
        if (e instanceof UnknownHostException) {
            return new PollenException(ErrorCode.ORIGIN_UNREACHABLE, "cannot resolve origin host " + uri.getHost()
                    + " of " + uri + " (fix: check the url or the node's DNS)", e);
        }
        if (e instanceof SSLException) {
            return new PollenException(ErrorCode.ORIGIN_UNREACHABLE, "TLS with origin " + uri + " failed: " + e.getMessage(), e);
        }
        if (e instanceof ConnectException) {
            return new RetryableException(new PollenException(ErrorCode.ORIGIN_UNREACHABLE,
                    "cannot connect to origin " + uri + ": " + e.getMessage(), e));
        }
        if (e instanceof SocketTimeoutException) {
            return new RetryableException(new PollenException(ErrorCode.ORIGIN_UNREACHABLE,
                    "origin " + uri + " timed out: " + e.getMessage(), e));
        }
        return new RetryableException(new PollenException(ErrorCode.ORIGIN_UNREACHABLE,
                "reading from origin " + uri + " failed: " + e, e));
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
