package dev.pollen.agent.config;

import java.nio.file.Path;

/** {@code storage.*}: where task content and metadata live. */
public record StorageConfig(Path dir) {
    public StorageConfig {
        Check.present("storage.dir", dir);
        if (!dir.isAbsolute()) {
            throw ConfigException.invalid("storage.dir", dir, "an absolute path");
        }
    }
}
