package dev.pollen.agent.config;

import java.time.Duration;

/** Validation helpers for the config records' compact constructors. */
final class Check {
    private Check() {
    }

    static int range(String key, int value, int min, int max) {
        if (value < min || value > max) {
            throw ConfigException.invalid(key, value, min + ".." + max);
        }
        return value;
    }

    static Duration positive(String key, Duration value) {
        if (value == null || value.isNegative() || value.isZero()) {
            throw ConfigException.invalid(key, value == null ? "missing" : Durations.format(value), "a positive duration such as 30s");
        }
        return value;
    }

    static Duration range(String key, Duration value, Duration min, Duration max) {
        if (value == null || value.compareTo(min) < 0 || value.compareTo(max) > 0) {
            throw ConfigException.invalid(key, value == null ? "missing" : Durations.format(value),
                    Durations.format(min) + ".." + Durations.format(max));
        }
        return value;
    }

    static <T> T present(String key, T value) {
        if (value == null) {
            throw ConfigException.invalid(key, "missing", "a value");
        }
        return value;
    }
}
