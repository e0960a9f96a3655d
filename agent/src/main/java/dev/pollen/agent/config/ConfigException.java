package dev.pollen.agent.config;

/** A configuration value that cannot be used; the message names the key, the value and what is expected. */
public final class ConfigException extends RuntimeException {
    public ConfigException(String message) {
        super(message);
    }

    static ConfigException invalid(String key, Object value, String expected) {
        return new ConfigException(key + ": " + value + " (expected: " + expected + ")");
    }
}
