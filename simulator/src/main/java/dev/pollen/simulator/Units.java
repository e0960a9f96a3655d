package dev.pollen.simulator;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Sizes ({@code 4MiB}, {@code 1GiB}) and rates ({@code 400mbit}, {@code 1gbit}, {@code 100MiB} per second). */
final class Units {
    private static final Pattern AMOUNT = Pattern.compile("([0-9]+(?:\\.[0-9]+)?)\\s*([a-zA-Z]*)");

    private Units() {
    }

    static long bytes(String text) {
        Matcher m = AMOUNT.matcher(text.trim());
        if (!m.matches()) {
            throw new IllegalArgumentException("size: " + text + " (expected: e.g. 4MiB, 1GiB, 512MiB)");
        }
        double n = Double.parseDouble(m.group(1));
        long unit = switch (m.group(2).toLowerCase(Locale.ROOT)) {
            case "", "b" -> 1L;
            case "k", "kib" -> 1L << 10;
            case "m", "mib" -> 1L << 20;
            case "g", "gib" -> 1L << 30;
            case "t", "tib" -> 1L << 40;
            case "kb" -> 1_000L;
            case "mb" -> 1_000_000L;
            case "gb" -> 1_000_000_000L;
            default -> throw new IllegalArgumentException("size: " + text + " (expected a unit of B, KiB, MiB, GiB, TiB, kB, MB, GB)");
        };
        return Math.round(n * unit);
    }

    /** Bytes per second. {@code unlimited} (or 0) is a link no simulated transfer can fill. */
    static double rate(String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        if (t.equals("unlimited") || t.equals("0")) {
            return UNLIMITED;
        }
        Matcher m = AMOUNT.matcher(t);
        if (!m.matches()) {
            throw new IllegalArgumentException("rate: " + text + " (expected: e.g. 400mbit, 1gbit, 100MiB, unlimited)");
        }
        double n = Double.parseDouble(m.group(1));
        return switch (m.group(2)) {
            case "kbit" -> n * 1e3 / 8;
            case "mbit" -> n * 1e6 / 8;
            case "gbit" -> n * 1e9 / 8;
            default -> bytes(text);
        };
    }

    /** 1 Tbit/s: far above any simulated cap, finite so that shares stay ordinary numbers. */
    static final double UNLIMITED = 125e9;

    static String rateText(double bytesPerSecond) {
        return bytesPerSecond >= UNLIMITED ? "unlimited" : String.format(Locale.ROOT, "%.0fmbit", bytesPerSecond * 8 / 1e6);
    }

    static String sizeText(long bytes) {
        if (bytes % (1L << 30) == 0) {
            return bytes / (1L << 30) + "GiB";
        }
        if (bytes % (1L << 20) == 0) {
            return bytes / (1L << 20) + "MiB";
        }
        return bytes + "B";
    }
}
