package dev.pollen.agent.preheat;

import java.util.Locale;

/**
 * An image platform, {@code os/architecture[/variant]}, matched as containerd's platform matcher does it,
 * simplified: the os and architecture must be equal (after the usual aliases: {@code x86_64} is
 * {@code amd64}, {@code aarch64} is {@code arm64}), and the variant too when one is asked for.
 *
 * @param variant null when none
 */
public record Platform(String os, String architecture, String variant) {
    private static final String EXPECTED = "(expected: os/architecture[/variant], e.g. linux/amd64 or linux/arm64/v8)";

    public Platform {
        os = os.toLowerCase(Locale.ROOT);
        architecture = normalize(architecture.toLowerCase(Locale.ROOT));
        variant = variant == null || variant.isEmpty() ? null : variant.toLowerCase(Locale.ROOT);
    }

    public static Platform parse(String text) {
        String[] parts = text.split("/", -1);
        if (parts.length < 2 || parts.length > 3 || java.util.Arrays.stream(parts).anyMatch(p -> !p.matches("[A-Za-z0-9_.-]+"))) {
            throw new IllegalArgumentException("invalid platform \"" + text + "\" " + EXPECTED);
        }
        return new Platform(parts[0], parts[1], parts.length == 3 ? parts[2] : null);
    }

    /** This machine's: images are Linux's, the architecture is the JVM's. */
    public static Platform host() {
        return new Platform("linux", System.getProperty("os.arch"), null);
    }

    /** Whether an index entry with {@code candidate} serves this platform. */
    public boolean matches(Platform candidate) {
        return os.equals(candidate.os) && architecture.equals(candidate.architecture)
                && (variant == null || variant.equals(candidate.variant));
    }

    private static String normalize(String arch) {
        return switch (arch) {
            case "x86_64", "x86-64" -> "amd64";
            case "aarch64" -> "arm64";
            default -> arch;
        };
    }

    @Override
    public String toString() {
        return os + "/" + architecture + (variant != null ? "/" + variant : "");
    }
}
