package dev.pollen.agent.origin;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An in-process HTTP origin for tests: serves byte arrays at paths, honours single ranges unless told
 * not to, counts the body bytes it sends, and can fail the first N requests of a path with a status.
 */
public final class TestOrigin implements AutoCloseable {
    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-(\\d*)");

    private final HttpServer server;
    private final Map<String, Route> routes = new ConcurrentHashMap<>();
    private final AtomicLong bodyBytes = new AtomicLong();
    private final List<Map<String, List<String>>> requestHeaders = new CopyOnWriteArrayList<>();
    /** The client ports requests came from: one per TCP connection. */
    private final Set<Integer> clientPorts = ConcurrentHashMap.newKeySet();
    private final AtomicInteger stallsLeft = new AtomicInteger();
    private final CountDownLatch closed = new CountDownLatch(1);
    private volatile Runnable beforePieces;

    /** How a path answers. */
    public record Route(byte[] body, boolean ranges, boolean chunked, int status, String location, AtomicInteger failuresLeft,
                        int failureStatus) {
    }

    public TestOrigin() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/", this::handle);
        server.start();
    }

    public String url(String path) {
        return "http://127.0.0.1:" + server.getAddress().getPort() + path;
    }

    public void serve(String path, byte[] body) {
        routes.put(path, new Route(body, true, false, 200, null, new AtomicInteger(), 0));
    }

    public void serveWithoutRanges(String path, byte[] body) {
        routes.put(path, new Route(body, false, false, 200, null, new AtomicInteger(), 0));
    }

    public void serveChunked(String path, byte[] body) {
        routes.put(path, new Route(body, false, true, 200, null, new AtomicInteger(), 0));
    }

    public void status(String path, int status) {
        routes.put(path, new Route(new byte[0], false, false, status, null, new AtomicInteger(), 0));
    }

    public void redirect(String path, int status, String location) {
        routes.put(path, new Route(new byte[0], false, false, status, location, new AtomicInteger(), 0));
    }

    /** The next {@code count} requests for {@code path} answer {@code status} before it serves normally. */
    public void failFirst(String path, int count, int status) {
        Route r = routes.get(path);
        routes.put(path, new Route(r.body(), r.ranges(), r.chunked(), r.status(), r.location(), new AtomicInteger(count), status));
    }

    /** The next {@code count} answers send their headers and half their body, then nothing until the origin closes. */
    public void stallFirst(int count) {
        stallsLeft.set(count);
    }

    /** Runs {@code action} once, before answering the first request other than the one-byte probe. */
    public void beforeFirstPiece(Runnable action) {
        beforePieces = action;
    }

    /** How many TCP connections requests arrived on. */
    public int connections() {
        return clientPorts.size();
    }

    public long bodyBytesSent() {
        return bodyBytes.get();
    }

    public List<Map<String, List<String>>> requestHeaders() {
        return requestHeaders;
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            requestHeaders.add(Map.copyOf(ex.getRequestHeaders()));
            clientPorts.add(ex.getRemoteAddress().getPort());
            Runnable before = beforePieces;
            if (before != null && !"bytes=0-0".equals(ex.getRequestHeaders().getFirst("Range"))) {
                beforePieces = null;
                before.run();
            }
            Route route = routes.get(ex.getRequestURI().getPath());
            if (route == null) {
                ex.sendResponseHeaders(404, -1);
                return;
            }
            if (route.failuresLeft().getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                ex.sendResponseHeaders(route.failureStatus(), -1);
                return;
            }
            if (route.location() != null) {
                ex.getResponseHeaders().add("Location", route.location());
                ex.sendResponseHeaders(route.status(), -1);
                return;
            }
            if (route.status() != 200) {
                ex.sendResponseHeaders(route.status(), -1);
                return;
            }
            byte[] body = route.body();
            String range = ex.getRequestHeaders().getFirst("Range");
            Matcher m = range == null ? null : RANGE.matcher(range);
            if (route.ranges() && m != null && m.matches()) {
                long from = Long.parseLong(m.group(1));
                if (from >= body.length) {
                    ex.getResponseHeaders().add("Content-Range", "bytes */" + body.length);
                    ex.sendResponseHeaders(416, -1);
                    return;
                }
                long to = m.group(2).isEmpty() ? body.length - 1 : Math.min(Long.parseLong(m.group(2)), body.length - 1);
                int len = (int) (to - from + 1);
                ex.getResponseHeaders().add("Content-Range", "bytes " + from + "-" + to + "/" + body.length);
                ex.getResponseHeaders().add("Accept-Ranges", "bytes");
                ex.sendResponseHeaders(206, len);
                write(ex, body, (int) from, len);
                return;
            }
            ex.sendResponseHeaders(200, route.chunked() ? 0 : (body.length == 0 ? -1 : body.length));
            write(ex, body, 0, body.length);
        }
    }

    private void write(HttpExchange ex, byte[] body, int from, int len) throws IOException {
        OutputStream out = ex.getResponseBody();
        if (stallsLeft.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
            out.write(body, from, len / 2);
            out.flush();
            bodyBytes.addAndGet(len / 2);
            try {
                closed.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return;
        }
        int chunk = 64 * 1024;
        for (int off = from; off < from + len; off += chunk) {
            int n = Math.min(chunk, from + len - off);
            out.write(body, off, n);
            bodyBytes.addAndGet(n);
        }
    }

    @Override
    public void close() {
        closed.countDown();
        server.stop(0);
    }
}
