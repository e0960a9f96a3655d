package dev.pollen.monitoring;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A small HTTP/1.1 server for monitoring: a few fixed paths, GET and HEAD only. The JDK's server, with each exchange on
 * a virtual thread of its own: it shares no thread with the data plane, and a slow scraper or a flood of probes waits
 * on its own threads. Another path is 404, another method 405; what an endpoint throws is a 500 for that request only.
 */
public final class MonitoringServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(MonitoringServer.class);
    private static final int BACKLOG = 64;

    private final String name;
    private final HttpServer server;
    private final ExecutorService exchanges;
    private final Map<String, Endpoint> endpoints;

    private MonitoringServer(String name, HttpServer server, ExecutorService exchanges, Map<String, Endpoint> endpoints) {
        this.name = name;
        this.server = server;
        this.exchanges = exchanges;
        this.endpoints = endpoints;
    }

    /**
     * @param name what the server is for in logs and thread names ({@code metrics}, {@code health})
     * @param address where to listen; port 0 picks a free one
     * @param endpoints path → endpoint, matched exactly
     */
    public static MonitoringServer start(String name, InetSocketAddress address, Map<String, Endpoint> endpoints) throws IOException {
        HttpServer server = HttpServer.create(address, BACKLOG);
        ExecutorService exchanges = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name(name + "-http-", 0).factory());
        MonitoringServer monitoring = new MonitoringServer(name, server, exchanges, Map.copyOf(endpoints));
        server.createContext("/", monitoring::handle);
        server.setExecutor(exchanges);
        server.start();
        return monitoring;
    }

    public InetSocketAddress address() {
        return server.getAddress();
    }

    public int port() {
        return server.getAddress().getPort();
    }

    private void handle(HttpExchange exchange) {
        try (exchange) {
            String method = exchange.getRequestMethod();
            boolean head = method.equals("HEAD");
            Answer answer = answer(exchange.getRequestURI().getPath(), method, head);
            if (answer.status() == 405) {
                exchange.getResponseHeaders().set("Allow", "GET, HEAD");
            }
            exchange.getResponseHeaders().set("Content-Type", answer.contentType());
            exchange.getResponseHeaders().set("Cache-Control", "no-store");
            byte[] body = answer.body();
            if (head) {
                exchange.getResponseHeaders().set("Content-Length", String.valueOf(body.length));
                exchange.sendResponseHeaders(answer.status(), -1);
                return;
            }
            exchange.sendResponseHeaders(answer.status(), body.length == 0 ? -1 : body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        } catch (IOException gone) {
            // The client went away mid-answer: nothing to tell it, nothing wrong here.
            log.debug("event=monitoring_client_gone server={} error=\"{}\"", name, gone.toString());
        }
    }

    private Answer answer(String path, String method, boolean head) {
        Endpoint endpoint = endpoints.get(path);
        if (endpoint == null) {
            return Answer.text(404, "no such path: " + path + " (this server answers " + String.join(", ", endpoints.keySet().stream().sorted().toList()) + ")");
        }
        if (!head && !method.equals("GET")) {
            return Answer.text(405, "method " + method + " is not allowed on " + path + " (use GET)");
        }
        try {
            return endpoint.answer();
        } catch (RuntimeException e) {
            log.warn("event=monitoring_endpoint_failed server={} path={} error=\"{}\"", name, path, e.toString());
            return Answer.text(500, "could not answer " + path + ": " + e);
        }
    }

    @Override
    public void close() {
        server.stop(0);
        exchanges.shutdownNow();
    }
}
