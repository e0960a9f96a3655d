package dev.pollen.agent.config;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Free space to keep on a filesystem, written as a share of it ({@code 5%}) or a size ({@code 10GiB}).
 *
 * @param percent the share, or -1 when a size is given
 * @param bytes the size, or -1 when a share is given
 */
public record FreeSpaceFloor(int percent, long bytes) {
    private static final Pattern PERCENT = Pattern.compile("(\\d{1,3})\\s*%");

    public FreeSpaceFloor {
        if ((percent < 0) == (bytes < 0) || percent > 99) {
            throw new IllegalArgumentException("percent " + percent + " and bytes " + bytes + " (expected: one of them, percent 0..99)");
        }
    }

    public static FreeSpaceFloor parse(String text) {
        Matcher m = PERCENT.matcher(text.trim());
        if (m.matches()) {
            return new FreeSpaceFloor(Integer.parseInt(m.group(1)), -1);
        }
        return new FreeSpaceFloor(-1, ByteSize.parse(text).bytes());
    }

    /** The floor on a filesystem of {@code totalBytes}. */
    public long bytesOf(long totalBytes) {
        return percent >= 0 ? totalBytes / 100 * percent : bytes;
    }

    @Override
    public String toString() {
        return percent >= 0 ? percent + "%" : ByteSize.human(bytes);
    }
}
