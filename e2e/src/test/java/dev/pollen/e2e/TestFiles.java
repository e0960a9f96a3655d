package dev.pollen.e2e;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Random;

/** Random test content from a seeded {@link Random}, so a failure can be reproduced byte for byte. */
final class TestFiles {
    static final long MiB = 1024 * 1024;

    /** A file and what it should hash to. */
    record TestFile(Path path, long size, String sha256) {
        String digest() {
            return "sha256:" + sha256;
        }
    }

    private TestFiles() {
    }

    static TestFile random(Path path, long size, long seed) {
        Random random = new Random(seed);
        MessageDigest sha = sha256();
        byte[] chunk = new byte[1 << 20];
        try (OutputStream out = Files.newOutputStream(path)) {
            for (long left = size; left > 0; ) {
                int n = (int) Math.min(chunk.length, left);
                random.nextBytes(chunk);
                out.write(chunk, 0, n);
                sha.update(chunk, 0, n);
                left -= n;
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new TestFile(path, size, HexFormat.of().formatHex(sha.digest()));
    }

    static String sha256(Path path) {
        MessageDigest sha = sha256();
        byte[] chunk = new byte[1 << 20];
        try (InputStream in = Files.newInputStream(path)) {
            for (int n; (n = in.read(chunk)) > 0; ) {
                sha.update(chunk, 0, n);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    /** dfget's way of printing a size: {@code 16.0 MiB}. */
    static String human(long bytes) {
        String[] units = {"B", "KiB", "MiB", "GiB"};
        double v = bytes;
        int i = 0;
        while (v >= 1024 && i < units.length - 1) {
            v /= 1024;
            i++;
        }
        return i == 0 ? bytes + " B" : String.format(java.util.Locale.ROOT, "%.1f %s", v, units[i]);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
