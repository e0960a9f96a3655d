package dev.pollen.agent.config;

/**
 * {@code health.*}: where probes ask {@code GET /healthy}. Dragonfly's dfdaemon keys, path and default port
 * ({@code health.server.ip}, {@code health.server.port} 4003), so probes written for it carry over; {@code enable} is
 * Pollen's.
 */
public record HealthConfig(Server server) {
    public HealthConfig {
        Check.present("health.server", server);
    }

    /** @param port 0 picks a free one (tests: the ready line reports it) */
    public record Server(boolean enable, String ip, int port) {
        public Server {
            Check.present("health.server.ip", ip);
            Check.range("health.server.port", port, 0, 65535);
        }
    }
}
