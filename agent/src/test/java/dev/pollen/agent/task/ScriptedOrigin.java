package dev.pollen.agent.task;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An origin whose answers a test holds back: probes (the first-byte request that tells the length) can be
 * held at a gate, and a path can claim a length with no bytes behind it (its piece requests stall until
 * the origin is closed, then fail with 404).
 */
final class ScriptedOrigin implements AutoCloseable {
    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-(\\d+)");

    private final HttpServer server;
    private final Map<String, byte[]> bodies = new ConcurrentHashMap<>();
    private final Map<String, Long> claims = new ConcurrentHashMap<>();
    private final AtomicInteger probes = new AtomicInteger();
    private final AtomicInteger stalled = new AtomicInteger();
    private volatile CountDownLatch probeGate = new CountDownLatch(0);
    private final CountDownLatch closed = new CountDownLatch(1);

    ScriptedOrigin() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/", this::handle);
        server.start();
    }

    String url(String path) {
        return "http://127.0.0.1:" + server.getAddress().getPort() + path;
    }

    void serve(String path, byte[] body) {
        bodies.put(path, body);
    }

    /** Announces {@code length} bytes at {@code path} but never sends them. */
    void claim(String path, long length) {
        claims.put(path, length);
    }

    /** Probes wait from now until {@link #releaseProbes}. */
    void holdProbes() {
        probeGate = new CountDownLatch(1);
    }

    void releaseProbes() {
        probeGate.countDown();
    }

    /** Probes received so far (held ones included). */
    int probes() {
        return probes.get();
    }

    /** Piece requests of a claimed path being held right now. */
    int stalled() {
        return stalled.get();
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            String path = ex.getRequestURI().getPath();
            Matcher m = RANGE.matcher(String.valueOf(ex.getRequestHeaders().getFirst("Range")));
            if (!m.matches() || (!bodies.containsKey(path) && !claims.containsKey(path))) {
                ex.sendResponseHeaders(404, -1);
                return;
            }
            long from = Long.parseLong(m.group(1));
            long to = Long.parseLong(m.group(2));
            if (from == 0 && to == 0) {
                probes.incrementAndGet();
                await(probeGate);
            }
            Long claimed = claims.get(path);
            if (claimed != null) {
                if (from == 0 && to == 0) {
                    ex.getResponseHeaders().add("Content-Range", "bytes 0-0/" + claimed);
                    ex.sendResponseHeaders(206, 1);
                    ex.getResponseBody().write(0);
                    return;
                }
                stalled.incrementAndGet();
                try {
                    await(closed);
                } finally {
                    stalled.decrementAndGet();
                }
                ex.sendResponseHeaders(404, -1);
                return;
            }
            byte[] body = bodies.get(path);
            int end = (int) Math.min(to, body.length - 1);
            ex.getResponseHeaders().add("Content-Range", "bytes " + from + "-" + end + "/" + body.length);
            ex.sendResponseHeaders(206, end - from + 1);
            ex.getResponseBody().write(body, (int) from, (int) (end - from + 1));
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            if (!latch.await(60, TimeUnit.SECONDS)) {
                throw new IllegalStateException("test origin held a request for 60 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        closed.countDown();
        probeGate.countDown();
        server.stop(0);
    }
}
