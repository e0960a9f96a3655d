package dev.pollen.agent.preheat;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * An OCI registry's manifest and token endpoints in-process (JDK HttpServer on loopback, port 0), as the
 * distribution registry answers them: manifests by tag and by digest with their Content-Type, and, when
 * {@link #requireToken} is set, 401 with a Bearer challenge whose realm hands out a token for the configured
 * user (or for anyone when no user is configured).
 */
final class FakeRegistry implements AutoCloseable {
    record Manifest(String mediaType, byte[] body) {
    }

    final List<String> requests = Collections.synchronizedList(new ArrayList<>());
    private final Map<String, Manifest> manifests = new ConcurrentHashMap<>();
    private final HttpServer server;
    private volatile boolean requireToken;
    private volatile boolean basicOnly;
    private volatile String user;
    private volatile String password;
    static final String TOKEN = "t0ken-for-pull";

    FakeRegistry() {
        try {
            server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        server.createContext("/", this::handle);
        server.start();
    }

    String authority() {
        return "127.0.0.1:" + server.getAddress().getPort();
    }

    /** Serves {@code body} at /v2/{repo}/manifests/{tag} and at its digest; returns the digest. */
    String put(String repo, String tag, String mediaType, String body) {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        String digest = ImageResolver.sha256(bytes);
        manifests.put(repo + "/" + digest, new Manifest(mediaType, bytes));
        if (tag != null) {
            manifests.put(repo + "/" + tag, new Manifest(mediaType, bytes));
        }
        return digest;
    }

    /** Bearer tokens needed; {@code user} null: the token endpoint gives anyone a token. */
    FakeRegistry requireToken(String user, String password) {
        this.requireToken = true;
        this.user = user;
        this.password = password;
        return this;
    }

    /** HTTP Basic on the registry itself, no token endpoint. */
    FakeRegistry requireBasic(String user, String password) {
        this.basicOnly = true;
        this.user = user;
        this.password = password;
        return this;
    }

    private void handle(HttpExchange x) throws IOException {
        String path = x.getRequestURI().getPath();
        String auth = x.getRequestHeaders().getFirst("Authorization");
        requests.add(x.getRequestMethod() + " " + x.getRequestURI() + (auth != null ? " auth=" + auth : ""));
        String basic = user == null ? null : "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
        if (path.equals("/token")) {
            if (user != null && !basic.equals(auth)) {
                send(x, 401, "application/json", "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}");
                return;
            }
            send(x, 200, "application/json", "{\"token\":\"" + TOKEN + "\",\"expires_in\":300}");
            return;
        }
        if (basicOnly && !basic.equals(auth)) {
            x.getResponseHeaders().add("WWW-Authenticate", "Basic realm=\"fake\"");
            send(x, 401, "application/json", "{}");
            return;
        }
        if (requireToken && !("Bearer " + TOKEN).equals(auth)) {
            String repo = path.replaceFirst("^/v2/", "").replaceFirst("/manifests/.*$", "");
            x.getResponseHeaders().add("WWW-Authenticate", "Bearer realm=\"http://" + authority() + "/token\",service=\"fake-registry\","
                    + "scope=\"repository:" + repo + ":pull\"");
            send(x, 401, "application/json", "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}");
            return;
        }
        int at = path.indexOf("/manifests/");
        Manifest m = at < 0 ? null : manifests.get(path.substring(4, at) + "/" + path.substring(at + "/manifests/".length()));
        if (m == null) {
            send(x, 404, "application/json", "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\"}]}");
            return;
        }
        x.getResponseHeaders().add("Docker-Content-Digest", ImageResolver.sha256(m.body()));
        send(x, 200, m.mediaType(), new String(m.body(), StandardCharsets.UTF_8));
    }

    private static void send(HttpExchange x, int status, String type, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        x.getResponseHeaders().add("Content-Type", type);
        x.sendResponseHeaders(status, bytes.length);
        x.getResponseBody().write(bytes);
        x.close();
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
