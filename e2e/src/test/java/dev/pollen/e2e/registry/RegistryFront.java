package dev.pollen.e2e.registry;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

/**
 * The front door of a test registry: a small HTTP/1.1 proxy, run as a process of its own beside the registry
 * (inside the registry's network namespace when it has one), that logs every exchange and, on command, answers
 * some requests itself with an error status instead of passing them on. It is what lets a test count the blob
 * GETs the registry served and make the registry refuse blobs or manifests while it still runs.
 *
 * <p>{@code java RegistryFront LISTEN_IP LISTEN_PORT REGISTRY_PORT CONTROL_SOCKET}: listens on
 * {@code LISTEN_IP:LISTEN_PORT} (port 0: a free one), passes requests to {@code 127.0.0.1:REGISTRY_PORT}, prints
 * {@code ready <port>} once it listens, and runs until killed. Every exchange is one connection each way
 * ({@code Connection: close}), so each is logged alone when its response has ended.
 *
 * <p>The control socket is a Unix socket (a file, reachable from any network namespace) that takes one line
 * per connection and answers, then closes:
 * <ul>
 *   <li>{@code fault NONE|BLOBS|MANIFESTS|ALL STATUS}: from now on, answer the GETs and HEADs of blobs, of
 *   manifests, or every request with {@code STATUS} and no body ({@code NONE}: pass everything) → {@code ok};
 *   <li>{@code log}: {@code inflight N}, then one line per exchange ended so far:
 *   {@code METHOD TARGET STATUS BODY_BYTES registry|injected|aborted CLIENT_IP RANGE} (aborted: cut off in its
 *   middle, status 0 if before the head; RANGE without spaces, {@code -} if none);
 *   <li>{@code clear}: forgets the exchanges logged so far → {@code ok}.
 * </ul>
 */
public final class RegistryFront {
    private static final Pattern BLOB = Pattern.compile("^/v2/.+/blobs/[a-z0-9]+:[a-f0-9]+$");
    private static final Pattern MANIFEST = Pattern.compile("^/v2/.+/manifests/[^/]+$");
    private static final int MAX_HEAD = 64 * 1024;

    private record Fault(Registry.Refuse what, int status) {
        boolean appliesTo(String method, String path) {
            boolean read = method.equals("GET") || method.equals("HEAD");
            return switch (what) {
                case NONE -> false;
                case BLOBS -> read && BLOB.matcher(path).matches();
                case MANIFESTS -> read && MANIFEST.matcher(path).matches();
                case ALL -> true;
            };
        }
    }

    private final int registryPort;
    private final List<String> log = new CopyOnWriteArrayList<>();
    private final AtomicInteger inflight = new AtomicInteger();
    private volatile Fault fault = new Fault(Registry.Refuse.NONE, 0);

    private RegistryFront(int registryPort) {
        this.registryPort = registryPort;
    }

    public static void main(String[] args) throws Exception {
        RegistryFront front = new RegistryFront(Integer.parseInt(args[2]));
        ServerSocket server = new ServerSocket();
        server.setReuseAddress(true);
        server.bind(new InetSocketAddress(InetAddress.getByName(args[0]), Integer.parseInt(args[1])), 512);
        Path control = Path.of(args[3]);
        Files.deleteIfExists(control);
        ServerSocketChannel controlServer = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        controlServer.bind(UnixDomainSocketAddress.of(control));
        Thread.ofPlatform().daemon().name("front-control").start(() -> front.control(controlServer));
        System.out.println("ready " + server.getLocalPort());
        System.out.flush();
        while (true) {
            Socket client = server.accept();
            Thread.ofVirtual().name("front-exchange").start(() -> front.exchange(client));
        }
    }

    private void control(ServerSocketChannel server) {
        while (true) {
            try (SocketChannel c = server.accept()) {
                String command = readLine(Channels.newInputStream(c));
                PrintWriter out = new PrintWriter(Channels.newOutputStream(c), false, StandardCharsets.UTF_8);
                String[] words = command.split(" ");
                switch (words[0]) {
                    case "fault" -> {
                        fault = new Fault(Registry.Refuse.valueOf(words[1]), Integer.parseInt(words[2]));
                        out.print("ok\n");
                    }
                    case "log" -> {
                        // In-flight first: a line logged after this count was read is counted in it.
                        out.print("inflight " + inflight.get() + "\n");
                        log.forEach(l -> out.print(l + "\n"));
                    }
                    case "clear" -> {
                        log.clear();
                        out.print("ok\n");
                    }
                    default -> out.print("unknown command: " + command + "\n");
                }
                out.flush();
            } catch (IOException | RuntimeException e) {
                System.out.println("control: " + e);
            }
        }
    }

    private void exchange(Socket client) {
        try (client) {
            InputStream fromClient = new BufferedInputStream(client.getInputStream(), 1 << 16);
            String head = readHead(fromClient);
            if (head == null) {
                return;
            }
            inflight.incrementAndGet();
            try {
                forward(client, fromClient, head);
            } finally {
                inflight.decrementAndGet();
            }
        } catch (IOException e) {
            // the client went away before its request was whole
        }
    }

    private void forward(Socket client, InputStream fromClient, String head) {
        try {
            String[] requestLine = head.substring(0, head.indexOf("\r\n")).split(" ");
            String method = requestLine[0];
            String target = requestLine[1];
            String path = target.contains("?") ? target.substring(0, target.indexOf('?')) : target;
            String request = method + " " + target;
            String context = client.getInetAddress().getHostAddress() + " " + range(head);
            Fault now = fault;
            OutputStream toClient = client.getOutputStream();
            if (now.appliesTo(method, path)) {
                toClient.write(("HTTP/1.1 " + now.status() + " Refused By Test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                log.add(request + " " + now.status() + " 0 injected " + context);
                return;
            }
            try (Socket registry = new Socket()) {
                registry.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), registryPort), 5_000);
                registry.getOutputStream().write(closing(head).getBytes(StandardCharsets.ISO_8859_1));
                // The request body (a pushed blob) goes on as it comes; the registry reads what its framing says.
                Thread.ofVirtual().start(() -> copyQuietly(fromClient, registry));
                relayResponse(request, context, new BufferedInputStream(registry.getInputStream(), 1 << 16), toClient);
            }
        } catch (IOException e) {
            // The registry is not there (or the client went away before anything was relayed).
            log.add(head.substring(0, head.indexOf(" HTTP/")) + " 0 0 aborted "
                    + client.getInetAddress().getHostAddress() + " " + range(head));
        }
    }

    /** Relays the registry's answer and logs it, also when either side goes away in its middle. */
    private void relayResponse(String request, String context, InputStream fromRegistry, OutputStream toClient) {
        int status = 0;
        long bytes = 0;
        try {
            String responseHead;
            do { // 1xx heads (100 Continue) go to the client before the final one
                responseHead = readHead(fromRegistry);
                if (responseHead == null) {
                    throw new IOException("the registry closed the connection without an answer");
                }
                status = Integer.parseInt(responseHead.split(" ", 3)[1]);
                toClient.write(responseHead.getBytes(StandardCharsets.ISO_8859_1));
            } while (status >= 100 && status < 200);
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = fromRegistry.read(buffer)) >= 0; ) {
                toClient.write(buffer, 0, n);
                bytes += n;
            }
            toClient.flush();
            log.add(request + " " + status + " " + bytes + " registry " + context);
        } catch (IOException | RuntimeException e) {
            log.add(request + " " + status + " " + bytes + " aborted " + context);
        }
    }

    /** The request's {@code Range} value without spaces, {@code -} if it has none. */
    private static String range(String head) {
        for (String line : head.split("\r\n")) {
            if (line.regionMatches(true, 0, "range:", 0, 6)) {
                return line.substring(6).replace(" ", "");
            }
        }
        return "-";
    }

    /** The request head with {@code Connection: close} instead of the client's connection headers. */
    private static String closing(String head) {
        StringBuilder out = new StringBuilder();
        for (String line : head.split("\r\n")) {
            String lower = line.toLowerCase(Locale.ROOT);
            if (lower.startsWith("connection:") || lower.startsWith("keep-alive:") || lower.startsWith("proxy-connection:")) {
                continue;
            }
            out.append(line).append("\r\n");
        }
        return out.append("Connection: close\r\n\r\n").toString();
    }

    private static void copyQuietly(InputStream from, Socket to) {
        try {
            from.transferTo(to.getOutputStream());
        } catch (IOException e) {
            // the exchange ended: one side closed
        }
    }

    /**
     * The head up to and including the blank line, or null if the stream ends first. Anything that does not
     * start like HTTP (a TLS ClientHello from a client that wrongly tries HTTPS) is refused at once, so the
     * client fails fast instead of waiting for a handshake timeout.
     */
    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        while (matched < 4) {
            int b = in.read();
            if (b < 0) {
                return null;
            }
            if (head.size() == 0 && (b < 'A' || b > 'Z')) {
                throw new IOException("not HTTP: first byte " + b);
            }
            head.write(b);
            matched = (b == "\r\n\r\n".charAt(matched)) ? matched + 1 : (b == '\r' ? 1 : 0);
            if (head.size() > MAX_HEAD) {
                throw new IOException("head longer than " + MAX_HEAD + " bytes");
            }
        }
        return head.toString(StandardCharsets.ISO_8859_1);
    }

    private static String readLine(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        for (int b; (b = in.read()) >= 0 && b != '\n'; ) {
            line.write(b);
        }
        return line.toString(StandardCharsets.UTF_8).strip();
    }
}
