package dev.pollen.agent.mirror;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A {@code Range} request header against a blob of known length (RFC 9110 §14): one range is served as a 206, a range
 * that starts past the end as a 416, and anything else (no header, several ranges, another unit, bad syntax) as the
 * whole blob: a server may ignore a Range it does not serve.
 */
final class ByteRanges {
    private static final Pattern SINGLE = Pattern.compile("bytes\\s*=\\s*(\\d*)\\s*-\\s*(\\d*)\\s*");

    /** What to answer. */
    sealed interface Answer permits Whole, Partial, Unsatisfiable {
    }

    record Whole() implements Answer {
    }

    /** Bytes {@code first..last} inclusive. */
    record Partial(long first, long last) implements Answer {
        long length() {
            return last - first + 1;
        }

        String contentRange(long total) {
            return "bytes " + first + "-" + last + "/" + total;
        }
    }

    record Unsatisfiable() implements Answer {
        static String contentRange(long total) {
            return "bytes */" + total;
        }
    }

    private ByteRanges() {
    }

    static Answer parse(String header, long length) {
        if (header == null) {
            return new Whole();
        }
        Matcher m = SINGLE.matcher(header);
        if (!m.matches() || m.group(1).isEmpty() && m.group(2).isEmpty()) {
            return new Whole();
        }
        try {
            if (m.group(1).isEmpty()) {
                long suffix = Long.parseLong(m.group(2));
                if (suffix == 0 || length == 0) {
                    return new Unsatisfiable();
                }
                return new Partial(Math.max(0, length - suffix), length - 1);
            }
            long first = Long.parseLong(m.group(1));
            long last = m.group(2).isEmpty() ? Long.MAX_VALUE : Long.parseLong(m.group(2));
            if (last < first) {
                return new Whole();
            }
            if (first >= length) {
                return new Unsatisfiable();
            }
            return new Partial(first, Math.min(last, length - 1));
        } catch (NumberFormatException tooLong) {
            // More digits than a long holds: past any end there is.
            return new Unsatisfiable();
        }
    }
}
