package dev.pollen.agent.config;

import java.nio.file.Path;

/** {@code storage.*}: where task content and metadata live. */
public record StorageConfig(Path dir, Server server) {
    public StorageConfig {
        Check.present("storage.dir", dir);
        Check.present("storage.server", server);
        if (!dir.isAbsolute()) {
            throw ConfigException.invalid("storage.dir", dir, "an absolute path");
        }
    }

    /** {@code storage.server.*}: the Vortex TCP server that sends piece bytes to peers. */
    public record Server(int tcpPort) {
        public Server {
            Check.range("storage.server.tcpPort", tcpPort, 0, 65535);
        }
    }
}
