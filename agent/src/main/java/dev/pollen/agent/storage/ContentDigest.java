package dev.pollen.agent.storage;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;
import java.util.zip.CRC32;

/**
 * An expected whole-file digest in Dragonfly's notation: {@code sha256:<hex>}, {@code sha512:<hex>}
 * or {@code crc32:<decimal>}.
 */
public record ContentDigest(String algorithm, String expected) {

    public static ContentDigest parse(String text) {
        int colon = text.indexOf(':');
        String algorithm = colon < 0 ? "" : text.substring(0, colon).toLowerCase(Locale.ROOT);
        String value = colon < 0 ? "" : text.substring(colon + 1).toLowerCase(Locale.ROOT);
        boolean valid = switch (algorithm) {
            case "sha256" -> value.matches("[0-9a-f]{64}");
            case "sha512" -> value.matches("[0-9a-f]{128}");
            case "crc32" -> value.matches("\\d{1,10}") && Long.parseLong(value) <= 0xFFFF_FFFFL;
            default -> false;
        };
        if (!valid) {
            throw new PollenException(ErrorCode.INVALID_ARGUMENT, "invalid digest " + text
                    + " (expected: sha256:<64 hex>, sha512:<128 hex> or crc32:<decimal>)");
        }
        return new ContentDigest(algorithm, value);
    }

    /** A running computation of this digest's algorithm. */
    public Hasher hasher() {
        if (algorithm.equals("crc32")) {
            CRC32 crc = new CRC32();
            return new Hasher() {
                @Override
                public void update(java.nio.ByteBuffer bytes) {
                    crc.update(bytes);
                }

                @Override
                public String value() {
                    return Long.toString(crc.getValue());
                }
            };
        }
        MessageDigest md;
        try {
            md = MessageDigest.getInstance(algorithm.equals("sha256") ? "SHA-256" : "SHA-512");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256 and SHA-512", e);
        }
        return new Hasher() {
            @Override
            public void update(java.nio.ByteBuffer bytes) {
                md.update(bytes);
            }

            @Override
            public String value() {
                return HexFormat.of().formatHex(md.digest());
            }
        };
    }

    @Override
    public String toString() {
        return algorithm + ":" + expected;
    }

    /** Consumes bytes; {@link #value()} once at the end. */
    public interface Hasher {
        void update(java.nio.ByteBuffer bytes);

        String value();
    }
}
