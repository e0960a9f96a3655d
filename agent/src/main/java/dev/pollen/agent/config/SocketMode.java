package dev.pollen.agent.config;

/** Octal file modes such as {@code 0660}. */
final class SocketMode {
    private SocketMode() {
    }

    static int parse(String key, String text) {
        if (!text.matches("0?[0-7]{3}")) {
            throw ConfigException.invalid(key, text, "an octal file mode such as 0660");
        }
        return Integer.parseInt(text, 8);
    }
}
