package dev.pollen.e2e;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A real nginx as the origin, on a free 127.0.0.1 port (or the address given to {@link #listenOn}, e.g. inside
 * a network namespace through {@link #launcher}), serving a temp directory. Its access log records
 * {@code $request_method $uri $status $body_bytes_sent} per request (then, for people reading it, the client,
 * the time and the range), so tests count what the origin sent. The status page that tells when no response is
 * in flight is on a Unix socket in its directory, so the test reaches it from any namespace.
 *
 * <pre>{@code
 * @RegisterExtension
 * static final Nginx origin = new Nginx()
 *         .location(Nginx.rateLimited("/slow/", "4m"))
 *         .location(Nginx.status("/forbidden/", 403));
 * }</pre>
 *
 * Every location serves the same directory: {@code /slow/a.bin} is {@code /a.bin} sent slowly.
 */
public final class Nginx implements BeforeAllCallback, AfterAllCallback, AutoCloseable {
    private static final Pattern WRITING = Pattern.compile("Writing: (\\d+)");
    private static final String ROOT = "@ROOT@";

    private final List<String> locations = new ArrayList<>();
    private List<String> launcher = List.of();
    private String host = "127.0.0.1";
    private int fixedPort;
    private Path dir;
    private Process process;
    private int port;

    /** A location that serves the files at {@code rate} per connection (nginx's {@code limit_rate}, e.g. "4m"). */
    public static String rateLimited(String prefix, String rate) {
        return "location " + prefix + " { alias " + ROOT + "/; limit_rate " + rate + "; }";
    }

    /** A location that answers every request with {@code status}. */
    public static String status(String prefix, int status) {
        return "location " + prefix + " { return " + status + "; }";
    }

    /** Adds a {@code location} block (before {@link #start()}); {@code @ROOT@} stands for the served directory. */
    public Nginx location(String block) {
        if (process != null) {
            throw new IllegalStateException("add locations before nginx starts");
        }
        locations.add(block);
        return this;
    }

    /** Listens on {@code ip:port} instead of a free loopback port (before {@link #start()}). */
    public Nginx listenOn(String ip, int port) {
        if (process != null) {
            throw new IllegalStateException("choose the address before nginx starts");
        }
        this.host = ip;
        this.fixedPort = port;
        return this;
    }

    /** Starts nginx through a prefix that execs it, e.g. {@code ip netns exec NS} (before {@link #start()}). */
    public Nginx launcher(List<String> prefix) {
        if (process != null) {
            throw new IllegalStateException("choose the launcher before nginx starts");
        }
        this.launcher = List.copyOf(prefix);
        return this;
    }

    public synchronized Nginx start() {
        if (process != null) {
            return this;
        }
        try {
            dir = Files.createTempDirectory("pollen-e2e-nginx-");
            Files.createDirectories(root());
            // nginx's workers run as an unprivileged user: the served tree must be world-readable.
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
            Files.setPosixFilePermissions(root(), PosixFilePermissions.fromString("rwxr-xr-x"));
            Files.createDirectories(dir.resolve("logs"));
            Files.createDirectories(dir.resolve("tmp"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (fixedPort > 0) {
            port = fixedPort;
            launch();
            return this;
        }
        // Another process may take the port between our probe and nginx's bind: then try another one.
        AssertionError last = null;
        for (int attempt = 0; attempt < 5; attempt++) {
            port = freePort();
            try {
                launch();
                return this;
            } catch (AssertionError e) {
                last = e;
            }
        }
        throw last;
    }

    private void launch() {
        try {
            Files.writeString(dir.resolve("nginx.conf"), config());
            // A failed attempt may leave the socket behind, and nginx does not bind over it.
            Files.deleteIfExists(statusSocket());
            Path err = dir.resolve("logs/stderr.log");
            List<String> cmd = new ArrayList<>(launcher);
            cmd.addAll(List.of(binary(), "-p", dir.toString(), "-c", dir.resolve("nginx.conf").toString(), "-g", "daemon off;"));
            process = ChildProcesses.track(new ProcessBuilder(cmd)
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .redirectOutput(dir.resolve("logs/stdout.log").toFile())
                    .redirectError(err.toFile())
                    .start());
            await("nginx on port " + port)
                    .atMost(Duration.ofSeconds(10))
                    .pollInterval(Duration.ofMillis(20))
                    .failFast("nginx exited: " + err, () -> !process.isAlive())
                    .ignoreExceptions()
                    .until(() -> writingConnections() >= 0);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            String stderr = readQuietly(dir.resolve("logs/stderr.log")) + readQuietly(dir.resolve("logs/error.log"));
            if (process != null) {
                ChildProcesses.terminate(process, Duration.ofSeconds(5));
                process = null;
            }
            throw new AssertionError("nginx did not start on port " + port + ": " + stderr, e);
        }
    }

    private String config() {
        String d = dir.toString();
        StringBuilder locs = new StringBuilder();
        for (String block : locations) {
            locs.append("    ").append(block.replace(ROOT, root().toString())).append('\n');
        }
        return """
                worker_processes 1;
                pid %1$s/nginx.pid;
                error_log %1$s/logs/error.log warn;
                events { worker_connections 1024; }
                http {
                  log_format bytes '$request_method $uri $status $body_bytes_sent $remote_addr $msec $http_range';
                  access_log %1$s/logs/access.log bytes;
                  client_body_temp_path %1$s/tmp/body;
                  proxy_temp_path %1$s/tmp/proxy;
                  fastcgi_temp_path %1$s/tmp/fastcgi;
                  uwsgi_temp_path %1$s/tmp/uwsgi;
                  scgi_temp_path %1$s/tmp/scgi;
                  default_type application/octet-stream;
                  sendfile on;
                  keepalive_timeout 30s;
                  server {
                    listen unix:%5$s;
                    access_log off;
                    location = /nginx_status { stub_status; }
                  }
                  server {
                    listen %6$s:%2$d;
                    root %3$s;
                %4$s  }
                }
                """.formatted(d, port, root(), locs, statusSocket(), host);
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        start();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        close();
    }

    /** SIGTERM to the master (it stops its workers), SIGKILL to all of them if that takes too long. */
    @Override
    public synchronized void close() {
        stop();
        if (dir != null) {
            Daemons.deleteTree(dir);
        }
    }

    /** Stops nginx and keeps its directory (its logs), e.g. for a failed test; {@link #close()} deletes it. */
    public synchronized void stop() {
        if (process != null) {
            ChildProcesses.terminate(process, Duration.ofSeconds(10));
            process = null;
        }
    }

    /** nginx's directory: its configuration and {@code logs/}. */
    public Path dir() {
        return dir;
    }

    public int port() {
        return port;
    }

    /** The directory nginx serves. */
    public Path root() {
        return dir.resolve("www");
    }

    /** {@code http://127.0.0.1:PORT/path} (or the address it listens on). */
    public String url(String path) {
        return "http://" + host + ":" + port + (path.startsWith("/") ? path : "/" + path);
    }

    /** Creates a served file of random bytes from {@code seed}. */
    public TestFiles.TestFile createFile(String name, long size, long seed) {
        TestFiles.TestFile file = TestFiles.random(root().resolve(name), size, seed);
        try {
            Files.setPosixFilePermissions(file.path(), PosixFilePermissions.fromString("rw-r--r--"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }

    /**
     * Sum of {@code $body_bytes_sent} over the requests for {@code uri} (a path such as {@code /a.bin}).
     * Waits first until no response is being written, since nginx logs a request when it ends.
     */
    public long bytesSent(String uri) {
        return requests(uri).stream().mapToLong(Request::bytes).sum();
    }

    /** The logged requests for {@code uri}, after waiting for the responses in flight to end. */
    public List<Request> requests(String uri) {
        awaitIdle();
        return loggedRequests(uri);
    }

    /** The requests for {@code uri} logged so far, without waiting (a request is logged when it ends). */
    public List<Request> loggedRequests(String uri) {
        return readQuietly(dir.resolve("logs/access.log")).lines()
                .map(Request::parse)
                .filter(r -> r.uri().equals(uri))
                .toList();
    }

    /** Waits until nginx writes no response but the status page's own. */
    public void awaitIdle() {
        await("nginx to finish the responses in flight")
                .atMost(Duration.ofSeconds(30))
                .pollInterval(Duration.ofMillis(50))
                .until(() -> writingConnections() <= 1);
    }

    /** Responses being written, the status page's own included (nginx answers it at once). */
    private int writingConnections() throws IOException {
        try (SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(statusSocket()))) {
            c.write(ByteBuffer.wrap("GET /nginx_status HTTP/1.0\r\nHost: localhost\r\n\r\n".getBytes(StandardCharsets.US_ASCII)));
            String body = new String(readAll(c), StandardCharsets.US_ASCII);
            Matcher m = WRITING.matcher(body);
            if (!m.find()) {
                throw new IOException("unexpected stub_status: " + body);
            }
            return Integer.parseInt(m.group(1));
        }
    }

    private static byte[] readAll(SocketChannel c) throws IOException {
        java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
        ByteBuffer buf = ByteBuffer.allocate(4096);
        while (c.read(buf) >= 0) {
            all.write(buf.array(), 0, buf.position());
            buf.clear();
        }
        return all.toByteArray();
    }

    private Path statusSocket() {
        return dir.resolve("status.sock");
    }

    /** Debian installs nginx in /usr/sbin, which is not on every PATH. */
    private static String binary() {
        return Files.isExecutable(Path.of("/usr/sbin/nginx")) ? "/usr/sbin/nginx" : "nginx";
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String readQuietly(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            return "";
        }
    }

    /** One access-log line. */
    public record Request(String method, String uri, int status, long bytes) {
        static Request parse(String line) {
            String[] f = line.split(" ");
            return new Request(f[0], f[1], Integer.parseInt(f[2]), Long.parseLong(f[3]));
        }
    }
}
