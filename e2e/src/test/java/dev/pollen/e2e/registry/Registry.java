package dev.pollen.e2e.registry;

import static org.awaitility.Awaitility.await;

import dev.pollen.e2e.ChildProcesses;
import dev.pollen.e2e.Daemons;
import dev.pollen.e2e.Netns;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A real OCI registry (Debian's {@code docker-registry}, the CNCF distribution registry) with filesystem
 * storage in a temp directory, optionally behind htpasswd auth, on loopback or inside a network namespace.
 * Clients reach it through its {@linkplain RegistryFront front}, a process beside it that logs every exchange
 * (so a test counts the blob GETs the registry served) and that can be told to refuse blobs, manifests or
 * everything with an error status while the registry runs; {@link #stop()} takes both down (connections are
 * refused) and {@link #start()} brings them back on the same address with the same content.
 *
 * <pre>{@code
 * @RegisterExtension
 * static final Registry registry = new Registry();                     // anonymous, 127.0.0.1:free port
 * static final Registry secured = new Registry().withAuth("alice", "s3cret");
 *
 * String ref = image.push(registry, "team/app", "v1");
 * registry.blobGets(image.manifest().layers().getFirst().digest());    // 1 after one pull
 * registry.refuse(Registry.Refuse.BLOBS, 503);
 * }</pre>
 *
 * Auth is per registry, as it is per distribution process: anonymous and private repositories side by side
 * take two of these.
 */
public final class Registry implements BeforeAllCallback, AfterAllCallback, AutoCloseable {
    private static final Pattern LISTENING = Pattern.compile("listening on 127\\.0\\.0\\.1:(\\d+)");
    private static final Pattern READY = Pattern.compile("^ready (\\d+)", Pattern.MULTILINE);
    private static final Pattern BLOB = Pattern.compile("^/v2/.+/blobs/([a-z0-9]+:[a-f0-9]+)$");

    /** Which requests the front answers itself instead of passing them to the registry. */
    public enum Refuse {
        /** None: everything reaches the registry. */
        NONE,
        /** GETs and HEADs of {@code /v2/NAME/blobs/DIGEST} (uploads still pass). */
        BLOBS,
        /** GETs and HEADs of {@code /v2/NAME/manifests/REFERENCE}, by tag and by digest. */
        MANIFESTS,
        /** Every request, {@code /v2/} pings included. */
        ALL
    }

    /** A registry user, as skopeo's {@code --creds} and ctr's {@code --user} take it. */
    public record Credentials(String user, String password) {
        public String userColonPassword() {
            return user + ":" + password;
        }
    }

    /**
     * One exchange the front saw, in the order they ended. {@code target} is the request's path and query;
     * {@code source} is {@code registry} (answered by it), {@code injected} (refused by the front) or
     * {@code aborted} (cut off in its middle; status 0 if before the answer's head); {@code bytes} counts the
     * response body sent to the client; {@code client} is the client's IP (which node asked); {@code range} the
     * request's {@code Range} without spaces, empty if it had none.
     */
    public record Exchange(String method, String target, int status, long bytes, String source, String client,
            Optional<String> range) {
        static Exchange parse(String line) {
            String[] f = line.split(" ");
            return new Exchange(f[0], f[1], Integer.parseInt(f[2]), Long.parseLong(f[3]), f[4], f[5],
                    f[6].equals("-") ? Optional.empty() : Optional.of(f[6]));
        }

        public String path() {
            int q = target.indexOf('?');
            return q < 0 ? target : target.substring(0, q);
        }

        /** The digest of the blob this exchange was for, if it was for one. */
        public Optional<String> blob() {
            Matcher m = BLOB.matcher(path());
            return m.matches() ? Optional.of(m.group(1)) : Optional.empty();
        }

        /** A GET of a blob that the registry answered 200 or 206, i.e. that it sent layer bytes for. */
        public boolean servedBlob() {
            return method.equals("GET") && source.equals("registry") && (status == 200 || status == 206) && blob().isPresent();
        }
    }

    private Optional<Credentials> credentials = Optional.empty();
    private Netns.Node node;
    private Path dir;
    private Process registry;
    private Process front;
    private int port;

    /** Requires every client to authenticate as {@code user} (htpasswd with bcrypt; before {@link #start()}). */
    public Registry withAuth(String user, String password) {
        requireNotStarted();
        this.credentials = Optional.of(new Credentials(user, password));
        return this;
    }

    /** Runs inside {@code node}'s network namespace, reachable at its address (before {@link #start()}). */
    public Registry inNamespace(Netns.Node node) {
        requireNotStarted();
        this.node = node;
        return this;
    }

    /**
     * Starts the registry and its front; after {@link #stop()}, on the same address with the same content (and a
     * new, empty exchange log: the front's log lives in its process).
     */
    public synchronized Registry start() {
        if (registry != null) {
            return this;
        }
        try {
            if (dir == null) {
                dir = Files.createTempDirectory("pollen-e2e-registry-");
                Files.createDirectories(dir.resolve("data"));
                if (credentials.isPresent()) {
                    writeHtpasswd(credentials.get());
                }
                Files.writeString(dir.resolve("config.yml"), config());
            }
            int registryPort = startRegistry();
            port = startFront(registryPort);
            return this;
        } catch (IOException e) {
            stop();
            throw new UncheckedIOException(e);
        } catch (RuntimeException | AssertionError e) {
            stop();
            throw e;
        }
    }

    private String config() {
        String auth = credentials.isEmpty() ? "" : """
                auth:
                  htpasswd:
                    realm: pollen-e2e
                    path: %s
                """.formatted(dir.resolve("htpasswd"));
        // A fixed secret keeps the registry from warning that it made one up; the registry's own port is a free
        // one on its loopback, and only the front listens where clients connect.
        return """
                version: 0.1
                log:
                  level: info
                  formatter: text
                storage:
                  filesystem:
                    rootdirectory: %s
                  maintenance:
                    uploadpurging:
                      enabled: false
                http:
                  addr: 127.0.0.1:0
                  secret: pollen-e2e
                %s""".formatted(dir.resolve("data"), auth);
    }

    private void writeHtpasswd(Credentials c) throws IOException {
        Commands.Result r = Commands.check(Duration.ofSeconds(30),
                List.of(Commands.binary("htpasswd", "apache2-utils"), "-Bbn", c.user(), c.password()));
        Files.writeString(dir.resolve("htpasswd"), r.out().strip() + "\n");
    }

    private int startRegistry() throws IOException {
        Path log = dir.resolve("registry.log");
        // The log is kept across restarts: only what this run appends tells its port.
        int before = read(log).length();
        List<String> cmd = new ArrayList<>(launcher());
        cmd.addAll(List.of(Commands.binary("docker-registry", "docker-registry"), "serve", dir.resolve("config.yml").toString()));
        registry = ChildProcesses.track(new ProcessBuilder(cmd)
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectErrorStream(true)
                .start());
        return awaitPort("docker-registry", registry, log, before, LISTENING);
    }

    private int startFront(int registryPort) throws IOException {
        Path log = dir.resolve("front.log");
        String java = ProcessHandle.current().info().command().orElse(System.getProperty("java.home") + "/bin/java");
        List<String> cmd = new ArrayList<>(launcher());
        // A small JVM that starts fast: the front only copies bytes.
        cmd.addAll(List.of(java, "-Xmx64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", classes().toString(),
                RegistryFront.class.getName(), ip(), String.valueOf(port), String.valueOf(registryPort), control().toString()));
        Files.deleteIfExists(log);
        front = ChildProcesses.track(new ProcessBuilder(cmd)
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .redirectOutput(log.toFile())
                .redirectErrorStream(true)
                .start());
        return awaitPort("the registry's front", front, log, 0, READY);
    }

    private static int awaitPort(String what, Process process, Path log, int from, Pattern ready) {
        AtomicReference<Matcher> found = new AtomicReference<>();
        try {
            await(what + " to listen").atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20))
                    .failFast(what + " exited", () -> !process.isAlive())
                    .until(() -> {
                        Matcher m = ready.matcher(read(log).substring(from));
                        if (m.find()) {
                            found.set(m);
                        }
                        return found.get() != null;
                    });
        } catch (RuntimeException e) {
            throw new AssertionError(what + " did not start: " + e.getMessage() + "\n" + read(log), e);
        }
        return Integer.parseInt(found.get().group(1));
    }

    private static Path classes() {
        try {
            return Path.of(RegistryFront.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Stops the registry and its front (clients get connection refused) and keeps the content and the logs. */
    public synchronized void stop() {
        if (front != null) {
            ChildProcesses.terminate(front, Duration.ofSeconds(5));
            front = null;
        }
        if (registry != null) {
            ChildProcesses.terminate(registry, Duration.ofSeconds(10));
            registry = null;
        }
    }

    @Override
    public synchronized void close() {
        stop();
        if (dir != null) {
            Daemons.deleteTree(dir);
            dir = null;
        }
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        start();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        close();
    }

    /** From now on the front answers {@code what} with {@code status} and no body; {@link Refuse#NONE} undoes it. */
    public void refuse(Refuse what, int status) {
        String answer = control("fault " + what.name() + " " + status).strip();
        if (!answer.equals("ok")) {
            throw new IllegalStateException("the front did not take the fault: " + answer);
        }
    }

    /** Every exchange that ended, after waiting until none is in flight (the front logs one when it ends). */
    public List<Exchange> exchanges() {
        AtomicReference<List<String>> lines = new AtomicReference<>();
        await("the registry's front to finish the exchanges in flight").atMost(Duration.ofSeconds(30))
                .pollInterval(Duration.ofMillis(20))
                .until(() -> {
                    List<String> all = control("log").lines().toList();
                    lines.set(all.subList(1, all.size()));
                    return all.getFirst().equals("inflight 0");
                });
        return lines.get().stream().map(Exchange::parse).toList();
    }

    /** How many times the registry sent blob {@code digest} (GETs answered 200/206) since the last {@link #clearExchanges()}. */
    public long blobGets(String digest) {
        return exchanges().stream().filter(e -> e.servedBlob() && e.blob().orElseThrow().equals(digest)).count();
    }

    /** Body bytes the registry sent for blob GETs: its layer egress. */
    public long blobBytesSent() {
        return exchanges().stream().filter(Exchange::servedBlob).mapToLong(Exchange::bytes).sum();
    }

    /** Body bytes the registry sent for every request. */
    public long bytesSent() {
        return exchanges().stream().filter(e -> e.source().equals("registry")).mapToLong(Exchange::bytes).sum();
    }

    /** Forgets the exchanges so far, e.g. after pushing, so that counts cover only what follows. */
    public void clearExchanges() {
        exchanges(); // what is in flight now belongs to before
        control("clear");
    }

    /** Caps what the registry's namespace sends (tbf on its {@code eth0}, e.g. {@code "400mbit"}). */
    public void limitUplink(String rate) {
        if (node == null) {
            throw new IllegalStateException("limitUplink needs a registry inNamespace(...): on loopback it would cap every test");
        }
        node.limitUpload(rate);
    }

    /** The registry's name as image references and {@code hosts.toml} directories spell it: {@code IP:PORT}. */
    public String host() {
        return ip() + ":" + port;
    }

    public String ip() {
        return node == null ? "127.0.0.1" : node.ip();
    }

    public int port() {
        return port;
    }

    /** {@code http://IP:PORT}, the registry's base URL (a {@code hosts.toml} {@code server}). */
    public String url() {
        return "http://" + host();
    }

    /** {@code IP:PORT/name:tag}. */
    public String ref(String name, String tag) {
        return host() + "/" + name + ":" + tag;
    }

    /** {@code IP:PORT/name@digest}. */
    public String refByDigest(String name, String digest) {
        return host() + "/" + name + "@" + digest;
    }

    /**
     * Writes {@code certsDir/IP:PORT/hosts.toml} naming this registry as the only host, over plain HTTP: pulls
     * without a mirror, the baseline. Returns the file. The file has a {@code [host]} table although
     * {@code server} alone would say it all: containerd 1.6.20 (Debian bookworm's) rejects a hosts.toml without
     * one ("invalid `host` tree") and then silently uses its defaults (HTTPS first).
     */
    public Path writeDirectHosts(Path certsDir) {
        Path file = certsDir.resolve(host()).resolve("hosts.toml");
        try {
            Files.createDirectories(file.getParent());
            Files.writeString(file, "server = \"" + url() + "\"\n\n[host.\"" + url() + "\"]\n"
                    + "  capabilities = [\"pull\", \"resolve\"]\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }

    /** The user every client must authenticate as, if the registry has auth. */
    public Optional<Credentials> credentials() {
        return credentials;
    }

    /** The prefix that runs a command where the registry is reachable (its namespace), empty on loopback. */
    public List<String> launcher() {
        return node == null ? List.of() : node.launcher();
    }

    /** The registry's directory: {@code config.yml}, {@code data/}, {@code registry.log}, {@code front.log}. */
    public Path dir() {
        return dir;
    }

    @Override
    public String toString() {
        return "Registry[" + host() + (credentials.isPresent() ? ", auth" : "") + ", " + dir + "]";
    }

    private Path control() {
        return dir.resolve("front.sock");
    }

    private String control(String command) {
        if (front == null) {
            throw new IllegalStateException("the registry is stopped");
        }
        try (SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(control()))) {
            Channels.newOutputStream(c).write((command + "\n").getBytes(StandardCharsets.UTF_8));
            return new String(Channels.newInputStream(c).readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("the registry's front does not answer on " + control(), e);
        }
    }

    private void requireNotStarted() {
        if (dir != null) {
            throw new IllegalStateException("configure the registry before it starts");
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return "";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
