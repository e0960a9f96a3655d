package dev.pollen.agent.config;

/**
 * {@code metrics.*}: where Prometheus scrapes {@code GET /metrics}. Dragonfly's dfdaemon keys and default port
 * ({@code metrics.server.ip}, {@code metrics.server.port} 4002), so scrape configs written for it carry over;
 * {@code enable} is Pollen's.
 */
public record MetricsConfig(Server server) {
    public MetricsConfig {
        Check.present("metrics.server", server);
    }

    /** @param port 0 picks a free one (tests: the ready line reports it) */
    public record Server(boolean enable, String ip, int port) {
        public Server {
            Check.present("metrics.server.ip", ip);
            Check.range("metrics.server.port", port, 0, 65535);
        }
    }
}
