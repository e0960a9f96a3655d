package dev.pollen.agent.mirror;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An in-process registry for the mirror's tests: blobs by digest (single ranges honoured, as the distribution
 * registry does), other paths answered by handlers, every request recorded with all its header values.
 */
final class FakeRegistry implements AutoCloseable {
    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-(\\d*)");

    /** A request as the registry received it. */
    record Seen(String method, String path, String query, Map<String, List<String>> headers) {
        List<String> header(String name) {
            return headers.entrySet().stream().filter(e -> e.getKey().equalsIgnoreCase(name)).findFirst()
                    .map(Map.Entry::getValue).orElse(List.of());
        }
    }

    /** A custom answer: status, headers, body. */
    record Answer(int status, Map<String, List<String>> headers, byte[] body) {
        static Answer of(int status, String body, String... headerPairs) {
            Map<String, List<String>> h = new java.util.LinkedHashMap<>();
            for (int i = 0; i < headerPairs.length; i += 2) {
                h.computeIfAbsent(headerPairs[i], k -> new java.util.ArrayList<>()).add(headerPairs[i + 1]);
            }
            return new Answer(status, h, body.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A push the registry takes: the body's bytes counted as they arrive, and its sha256 once it ended. */
    static final class Upload {
        final AtomicLong received = new AtomicLong();
        final java.util.concurrent.CompletableFuture<String> sha256 = new java.util.concurrent.CompletableFuture<>();
    }

    private final Map<String, Upload> uploads = new ConcurrentHashMap<>();
    private final HttpServer server;
    private final Map<String, byte[]> blobs = new ConcurrentHashMap<>();
    private final Map<String, Function<Seen, Answer>> handlers = new ConcurrentHashMap<>();
    final List<Seen> seen = new CopyOnWriteArrayList<>();
    /** Body bytes sent for blob paths. */
    final AtomicLong blobBytes = new AtomicLong();
    /** When set, answers every request before any handler or blob: a registry that is down says 503 to all. */
    volatile Function<Seen, Answer> before;
    /** Sleep between 64 KiB chunks of a blob body, to make a transfer slow. */
    volatile long chunkPauseMillis;

    FakeRegistry() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/", this::handle);
        server.start();
    }

    String hostPort() {
        return "127.0.0.1:" + server.getAddress().getPort();
    }

    String base() {
        return "http://" + hostPort();
    }

    /** Serves {@code content} at /v2/{@code repo}/blobs/{its sha256}; returns that digest. */
    String blob(String repo, byte[] content) {
        String digest = "sha256:" + sha256(content);
        blobs.put("/v2/" + repo + "/blobs/" + digest, content);
        return digest;
    }

    /** Serves other bytes than the digest says, at the url of {@code claimedContent}'s digest. */
    String lyingBlob(String repo, byte[] claimedContent, byte[] served) {
        String digest = "sha256:" + sha256(claimedContent);
        blobs.put("/v2/" + repo + "/blobs/" + digest, served);
        return digest;
    }

    /** Takes request bodies at {@code path} (any method), answering 201 once each has ended. */
    Upload upload(String path) {
        return uploads.computeIfAbsent(path, p -> new Upload());
    }

    void handle(String path, Function<Seen, Answer> handler) {
        handlers.put(path, handler);
    }

    List<Seen> requestsTo(String method, String path) {
        return requestsTo(path).stream().filter(s -> s.method().equals(method)).toList();
    }

    List<Seen> requestsTo(String path) {
        return seen.stream().filter(s -> s.path().equals(path)).toList();
    }

    static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private void handle(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getRawPath();
        Seen s = new Seen(ex.getRequestMethod(), path, ex.getRequestURI().getRawQuery(), Map.copyOf(ex.getRequestHeaders()));
        seen.add(s);
        try (ex) {
            Upload upload = uploads.get(path);
            if (upload != null) {
                take(ex, upload);
                return;
            }
            Function<Seen, Answer> handler = before != null ? before : handlers.get(path);
            if (handler != null) {
                Answer a = handler.apply(s);
                if (a != null) {
                    a.headers().forEach((k, v) -> v.forEach(value -> ex.getResponseHeaders().add(k, value)));
                    boolean head = ex.getRequestMethod().equals("HEAD");
                    ex.sendResponseHeaders(a.status(), head || a.body().length == 0 ? -1 : a.body().length);
                    if (!head) {
                        ex.getResponseBody().write(a.body());
                    }
                    return;
                }
            }
            byte[] blob = blobs.get(path);
            if (blob == null) {
                byte[] body = "{\"errors\":[{\"code\":\"BLOB_UNKNOWN\"}]}".getBytes(StandardCharsets.UTF_8);
                ex.getResponseHeaders().add("Content-Type", "application/json");
                ex.sendResponseHeaders(404, body.length);
                ex.getResponseBody().write(body);
                return;
            }
            serveBlob(ex, path, blob);
        }
    }

    private static void take(HttpExchange ex, Upload upload) throws IOException {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        byte[] chunk = new byte[64 * 1024];
        try (InputStream body = ex.getRequestBody()) {
            for (int n; (n = body.read(chunk)) >= 0; ) {
                sha.update(chunk, 0, n);
                upload.received.addAndGet(n);
            }
        }
        upload.sha256.complete(HexFormat.of().formatHex(sha.digest()));
        ex.getResponseHeaders().add("Docker-Content-Digest", "sha256:" + upload.sha256.join());
        ex.sendResponseHeaders(201, -1);
    }

    private void serveBlob(HttpExchange ex, String path, byte[] blob) throws IOException {
        ex.getResponseHeaders().add("Content-Type", "application/octet-stream");
        ex.getResponseHeaders().add("Docker-Content-Digest", path.substring(path.lastIndexOf('/') + 1));
        ex.getResponseHeaders().add("Accept-Ranges", "bytes");
        int from = 0;
        int to = blob.length - 1;
        String range = ex.getRequestHeaders().getFirst("Range");
        int status = 200;
        if (range != null) {
            Matcher m = RANGE.matcher(range);
            if (m.matches()) {
                from = Integer.parseInt(m.group(1));
                if (!m.group(2).isEmpty()) {
                    to = Math.min(to, Integer.parseInt(m.group(2)));
                }
                if (from >= blob.length) {
                    ex.getResponseHeaders().add("Content-Range", "bytes */" + blob.length);
                    ex.sendResponseHeaders(416, -1);
                    return;
                }
                status = 206;
                ex.getResponseHeaders().add("Content-Range", "bytes " + from + "-" + to + "/" + blob.length);
            }
        }
        int length = to - from + 1;
        if (ex.getRequestMethod().equals("HEAD")) {
            ex.getResponseHeaders().add("Content-Length", Integer.toString(length));
            ex.sendResponseHeaders(status, -1);
            return;
        }
        ex.sendResponseHeaders(status, length);
        OutputStream out = ex.getResponseBody();
        for (int pos = from; pos <= to; pos += 64 * 1024) {
            int n = Math.min(64 * 1024, to + 1 - pos);
            out.write(blob, pos, n);
            blobBytes.addAndGet(n);
            if (chunkPauseMillis > 0) {
                try {
                    Thread.sleep(chunkPauseMillis);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
