package dev.pollen.agent.config;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A link rate in bits per second, written as {@code tc} writes it: {@code 400mbit}, {@code 10gbit},
 * {@code 500kbit} (decimal units) or a plain number of bits per second. 0 means unknown.
 */
public record BitRate(long bitsPerSecond) {
    private static final Pattern RATE = Pattern.compile("(\\d+)\\s*(bit|kbit|mbit|gbit|tbit)?", Pattern.CASE_INSENSITIVE);

    public BitRate {
        if (bitsPerSecond < 0) {
            throw new IllegalArgumentException("negative rate: " + bitsPerSecond);
        }
    }

    public static BitRate parse(String text) {
        Matcher m = RATE.matcher(text.trim());
        if (!m.matches()) {
            throw new IllegalArgumentException("not a rate: " + text);
        }
        long n = Long.parseLong(m.group(1));
        long multiplier = switch (m.group(2) == null ? "bit" : m.group(2).toLowerCase(Locale.ROOT)) {
            case "kbit" -> 1_000L;
            case "mbit" -> 1_000_000L;
            case "gbit" -> 1_000_000_000L;
            case "tbit" -> 1_000_000_000_000L;
            default -> 1L;
        };
        return new BitRate(Math.multiplyExact(n, multiplier));
    }

    public boolean known() {
        return bitsPerSecond > 0;
    }

    /** The largest whole decimal unit: {@code 400mbit}, {@code 10gbit}. */
    @Override
    public String toString() {
        String[] units = {"bit", "kbit", "mbit", "gbit", "tbit"};
        long v = bitsPerSecond;
        int i = 0;
        while (v != 0 && v % 1000 == 0 && i < units.length - 1) {
            v /= 1000;
            i++;
        }
        return v + units[i];
    }
}
