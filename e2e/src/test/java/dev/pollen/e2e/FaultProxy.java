package dev.pollen.e2e;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A fault-injecting HTTP/1.1 proxy for the tests, between the daemon and nginx, on a free loopback port. Each
 * request gets a connection of its own to nginx ({@code Connection: close} both ways, so every request is
 * counted and judged alone); the first {@link Fault#times} requests the fault applies to get it, the rest pass
 * unchanged, so a test chooses between "retries succeed" (a few) and "the origin is broken" ({@link #ALWAYS}).
 *
 * <pre>{@code
 * try (FaultProxy proxy = FaultProxy.start(origin.port(), FaultProxy.Fault.resetAfter(1 << 20, 3))) {
 *     daemon.dfget().download(proxy.url("/f.bin"), out);
 *     proxy.faulted();   // 3
 * }
 * }</pre>
 */
final class FaultProxy implements AutoCloseable {
    static final int ALWAYS = Integer.MAX_VALUE;

    /** What the proxy does to a response. */
    enum Kind {
        /** Answers with {@link Fault#status} and an empty body, without asking the origin. */
        STATUS,
        /** Sends the head and {@link Fault#bytes} of the body, then resets the connection (RST). */
        RESET,
        /** Sends the head and {@link Fault#bytes} of the body, then nothing more, holding the connection open. */
        STALL,
        /** Sends the head and {@link Fault#bytes} of the body, then closes the connection (FIN). */
        TRUNCATE,
        /** Announces a Content-Length {@link Fault#bytes} longer than the body, sends the body, closes. */
        LONGER_LENGTH,
        /** Announces a Content-Length {@link Fault#bytes} shorter than the body and sends only that much. */
        SHORTER_LENGTH
    }

    /**
     * One fault. Those that cut a body apply only to bodies longer than {@code bytes} (so the daemon's one-byte
     * probe passes unharmed and a piece is hit in its middle); {@link Kind#STATUS} applies to every request.
     */
    record Fault(Kind kind, long bytes, int status, int times) {
        /** Passes everything. */
        static Fault none() {
            return new Fault(Kind.STATUS, 0, 0, 0);
        }

        static Fault status(int status, int times) {
            return new Fault(Kind.STATUS, 0, status, times);
        }

        static Fault resetAfter(long bytes, int times) {
            return new Fault(Kind.RESET, bytes, 0, times);
        }

        static Fault stallAfter(long bytes, int times) {
            return new Fault(Kind.STALL, bytes, 0, times);
        }

        static Fault truncateAfter(long bytes, int times) {
            return new Fault(Kind.TRUNCATE, bytes, 0, times);
        }

        static Fault longerLength(long by, int times) {
            return new Fault(Kind.LONGER_LENGTH, by, 0, times);
        }

        static Fault shorterLength(long by, int times) {
            return new Fault(Kind.SHORTER_LENGTH, by, 0, times);
        }

        boolean appliesTo(long contentLength) {
            return kind == Kind.STATUS || contentLength > bytes;
        }

        @Override
        public String toString() {
            String what = switch (kind) {
                case STATUS -> "status " + status;
                case LONGER_LENGTH, SHORTER_LENGTH -> kind.name().toLowerCase(Locale.ROOT) + " by " + bytes;
                default -> kind.name().toLowerCase(Locale.ROOT) + " after " + bytes + " B";
            };
            return what + (times == ALWAYS ? ", always" : ", " + times + "x");
        }
    }

    private final ServerSocket server;
    private final InetAddress targetHost;
    private final int targetPort;
    private final boolean tcp;
    private final Fault fault;
    private final AtomicInteger requests = new AtomicInteger();
    private final AtomicInteger faulted = new AtomicInteger();
    private final List<String> log = new CopyOnWriteArrayList<>();
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    private final Thread acceptor;

    private FaultProxy(ServerSocket server, InetAddress targetHost, int targetPort, boolean tcp, Fault fault) {
        this.server = server;
        this.targetHost = targetHost;
        this.targetPort = targetPort;
        this.tcp = tcp;
        this.fault = fault;
        this.acceptor = Thread.ofPlatform().daemon().name("fault-proxy-" + server.getLocalPort()).start(this::accept);
    }

    /** A proxy on a free 127.0.0.1 port in front of {@code 127.0.0.1:targetPort}. */
    static FaultProxy start(int targetPort, Fault fault) {
        return start(0, targetPort, fault);
    }

    /** A proxy on 127.0.0.1:{@code port} (0: a free one), e.g. the port of one closed before, for the same URLs. */
    static FaultProxy start(int port, int targetPort, Fault fault) {
        InetAddress loopback = InetAddress.getLoopbackAddress();
        return start(new InetSocketAddress(loopback, port), loopback, targetPort, false, fault);
    }

    /**
     * A proxy that knows no protocol ({@code tcp}): each connection is one "request", and {@link Kind#RESET}
     * or {@link Kind#STALL} cut what the target sends after {@link Fault#bytes} (e.g. mid-piece on Vortex);
     * other kinds pass. For a proxy inside a network namespace see {@link #main}.
     */
    static FaultProxy start(InetSocketAddress listen, InetAddress targetHost, int targetPort, boolean tcp, Fault fault) {
        try {
            ServerSocket server = new ServerSocket();
            server.setReuseAddress(true);
            server.bind(listen, 128);
            return new FaultProxy(server, targetHost, targetPort, tcp, fault);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A TCP fault proxy as a process of its own, to be started inside a node's network namespace:
     * {@code LISTEN_IP LISTEN_PORT TARGET_IP TARGET_PORT KIND BYTES TIMES}. Prints {@code ready} once it listens
     * and one line per connection it cut; runs until killed.
     */
    public static void main(String[] args) throws Exception {
        Fault fault = new Fault(Kind.valueOf(args[4]), Long.parseLong(args[5]), 0, Integer.parseInt(args[6]));
        FaultProxy proxy = start(new InetSocketAddress(InetAddress.getByName(args[0]), Integer.parseInt(args[1])),
                InetAddress.getByName(args[2]), Integer.parseInt(args[3]), true, fault);
        System.out.println("ready " + fault);
        System.out.flush();
        proxy.acceptor.join();
    }
    int port() {
        return server.getLocalPort();
    }

    String url(String path) {
        return "http://127.0.0.1:" + server.getLocalPort() + (path.startsWith("/") ? path : "/" + path);
    }

    /** Requests received so far. */
    int requests() {
        return requests.get();
    }

    /** Requests the fault was applied to so far. */
    int faulted() {
        return faulted.get();
    }

    /** One line per request: its request line, its range, what the proxy did; for failure messages. */
    List<String> log() {
        return List.copyOf(log);
    }

    @Override
    public void close() {
        try {
            server.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        open.forEach(FaultProxy::closeQuietly);
        try {
            acceptor.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void accept() {
        while (!server.isClosed()) {
            try {
                Socket client = server.accept();
                open.add(client);
                Thread.ofVirtual().name("fault-proxy-conn").start(() -> {
                    if (tcp) {
                        relay(client);
                    } else {
                        serve(client);
                    }
                });
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void serve(Socket client) {
        try (client) {
            String head = readHead(client.getInputStream());
            if (head == null) {
                return;
            }
            requests.incrementAndGet();
            String requestLine = head.lines().findFirst().orElse("");
            String range = header(head, "range");
            if (fault.kind() == Kind.STATUS && claim()) {
                log.add(requestLine + " range=" + range + " -> " + fault.status() + " (injected)");
                client.getOutputStream().write(("HTTP/1.1 " + fault.status() + " Injected\r\nContent-Length: 0\r\n"
                        + "Connection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                return;
            }
            try (Socket origin = new Socket()) {
                open.add(origin);
                origin.connect(new InetSocketAddress(targetHost, targetPort), 5_000);
                origin.getOutputStream().write(forwardedRequest(head).getBytes(StandardCharsets.ISO_8859_1));
                InputStream fromOrigin = origin.getInputStream();
                String responseHead = readHead(fromOrigin);
                if (responseHead == null) {
                    return;
                }
                String length = header(responseHead, "content-length");
                long contentLength = length == null ? -1 : Long.parseLong(length);
                boolean hit = fault.kind() != Kind.STATUS && contentLength >= 0 && fault.appliesTo(contentLength) && claim();
                String status = responseHead.lines().findFirst().orElse("");
                log.add(requestLine + " range=" + range + " -> " + status + " length=" + contentLength
                        + (hit ? " (" + fault.kind().name().toLowerCase(Locale.ROOT) + ")" : ""));
                OutputStream toClient = client.getOutputStream();
                if (!hit) {
                    toClient.write(responseHead.getBytes(StandardCharsets.ISO_8859_1));
                    fromOrigin.transferTo(toClient);
                    return;
                }
                switch (fault.kind()) {
                    case RESET -> {
                        toClient.write(responseHead.getBytes(StandardCharsets.ISO_8859_1));
                        copy(fromOrigin, toClient, fault.bytes());
                        toClient.flush();
                        client.setSoLinger(true, 0); // close() now sends RST
                    }
                    case STALL -> {
                        toClient.write(responseHead.getBytes(StandardCharsets.ISO_8859_1));
                        copy(fromOrigin, toClient, fault.bytes());
                        toClient.flush();
                        // Nothing more until the client gives up (or the proxy closes).
                        while (client.getInputStream().read() >= 0) {
                            // discard
                        }
                    }
                    case TRUNCATE -> {
                        toClient.write(responseHead.getBytes(StandardCharsets.ISO_8859_1));
                        copy(fromOrigin, toClient, fault.bytes());
                    }
                    case LONGER_LENGTH -> {
                        toClient.write(withLength(responseHead, contentLength + fault.bytes()).getBytes(StandardCharsets.ISO_8859_1));
                        copy(fromOrigin, toClient, contentLength);
                    }
                    case SHORTER_LENGTH -> {
                        long shorter = contentLength - fault.bytes();
                        toClient.write(withLength(responseHead, shorter).getBytes(StandardCharsets.ISO_8859_1));
                        copy(fromOrigin, toClient, shorter);
                    }
                    default -> throw new IllegalStateException(fault.toString());
                }
            } finally {
                open.removeIf(s -> s.isClosed());
            }
        } catch (IOException e) {
            // the client or the origin went away: nothing to answer
        } finally {
            open.remove(client);
        }
    }

    /** One connection passed on as bytes; a reset or stall cuts what comes back after {@link Fault#bytes}. */
    private void relay(Socket client) {
        try (client; Socket target = new Socket()) {
            open.add(target);
            target.connect(new InetSocketAddress(targetHost, targetPort), 5_000);
            requests.incrementAndGet();
            boolean hit = (fault.kind() == Kind.RESET || fault.kind() == Kind.STALL) && claim();
            Thread up = Thread.ofVirtual().start(() -> {
                try {
                    client.getInputStream().transferTo(target.getOutputStream());
                    target.shutdownOutput();
                } catch (IOException e) {
                    // either side went away
                }
            });
            OutputStream toClient = client.getOutputStream();
            if (!hit) {
                target.getInputStream().transferTo(toClient);
                return;
            }
            copy(target.getInputStream(), toClient, fault.bytes());
            toClient.flush();
            String line = "connection from " + client.getRemoteSocketAddress() + ": " + fault.kind() + " after " + fault.bytes() + " B";
            log.add(line);
            System.out.println(line);
            if (fault.kind() == Kind.RESET) {
                client.setSoLinger(true, 0); // close() now sends RST
            } else {
                up.join(); // nothing more until the client gives up
            }
        } catch (IOException e) {
            // either side went away
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            open.remove(client);
            open.removeIf(Socket::isClosed);
        }
    }

    /** Takes one of the fault's {@code times}, if any is left. */
    private boolean claim() {
        while (true) {
            int n = faulted.get();
            if (n >= fault.times()) {
                return false;
            }
            if (faulted.compareAndSet(n, n + 1)) {
                return true;
            }
        }
    }

    /** The request for nginx: one request per connection, and nothing that asks for another protocol. */
    private static String forwardedRequest(String head) {
        List<String> lines = new ArrayList<>();
        for (String line : head.split("\r\n")) {
            String name = line.contains(":") ? line.substring(0, line.indexOf(':')).trim().toLowerCase(Locale.ROOT) : "";
            if (!line.isEmpty() && !name.equals("connection") && !name.equals("upgrade") && !name.equals("http2-settings")
                    && !name.equals("keep-alive")) {
                lines.add(line);
            }
        }
        lines.add("Connection: close");
        return String.join("\r\n", lines) + "\r\n\r\n";
    }

    private static String withLength(String head, long length) {
        return head.replaceFirst("(?im)^content-length:[^\r\n]*", "Content-Length: " + length);
    }

    private static String header(String head, String name) {
        for (String line : head.split("\r\n")) {
            int colon = line.indexOf(':');
            if (colon > 0 && line.substring(0, colon).trim().equalsIgnoreCase(name)) {
                return line.substring(colon + 1).trim();
            }
        }
        return null;
    }

    /** Bytes up to and including the blank line that ends an HTTP head; null if the stream ends first. */
    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        byte[] end = {'\r', '\n', '\r', '\n'};
        while (matched < 4) {
            int b = in.read();
            if (b < 0) {
                return null;
            }
            head.write(b);
            matched = b == end[matched] ? matched + 1 : (b == '\r' ? 1 : 0);
            if (head.size() > 64 * 1024) {
                throw new IOException("HTTP head over 64 KiB");
            }
        }
        return head.toString(StandardCharsets.ISO_8859_1);
    }

    private static void copy(InputStream in, OutputStream out, long limit) throws IOException {
        byte[] buf = new byte[64 * 1024];
        long left = limit;
        while (left > 0) {
            int n = in.read(buf, 0, (int) Math.min(buf.length, left));
            if (n < 0) {
                return;
            }
            out.write(buf, 0, n);
            left -= n;
        }
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }
}
