package dev.pollen.e2e.registry;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * The little of POSIX ustar an image layer needs: directories and regular files owned by root, with mtime 0 so
 * that the same content always gives the same layer digest. The caller writes exactly {@code size} bytes of a
 * file after {@link #file}, then calls {@link #endFile}.
 */
final class TarWriter {
    private static final int BLOCK = 512;

    private final OutputStream out;
    private long pending;

    TarWriter(OutputStream out) {
        this.out = out;
    }

    void directory(String name) throws IOException {
        header(name.endsWith("/") ? name : name + "/", 0755, 0, '5');
    }

    /** Starts a regular file of {@code size} bytes; its content follows on the stream given to the constructor. */
    void file(String name, long size) throws IOException {
        header(name, 0644, size, '0');
        pending = size;
    }

    /** Pads the file just written to a whole block. */
    void endFile() throws IOException {
        int pad = (int) ((BLOCK - pending % BLOCK) % BLOCK);
        out.write(new byte[pad]);
        pending = 0;
    }

    /** The two zero blocks that end an archive. */
    void finish() throws IOException {
        out.write(new byte[2 * BLOCK]);
    }

    private void header(String name, int mode, long size, char type) throws IOException {
        byte[] h = new byte[BLOCK];
        byte[] n = name.getBytes(StandardCharsets.US_ASCII);
        if (n.length > 100) {
            throw new IllegalArgumentException("tar name longer than 100 bytes: " + name);
        }
        System.arraycopy(n, 0, h, 0, n.length);
        octal(h, 100, 8, mode);
        octal(h, 108, 8, 0); // uid
        octal(h, 116, 8, 0); // gid
        octal(h, 124, 12, size);
        octal(h, 136, 12, 0); // mtime
        h[156] = (byte) type;
        ascii(h, 257, "ustar\0");
        ascii(h, 263, "00");
        ascii(h, 265, "root");
        ascii(h, 297, "root");
        // The checksum is computed with its own field read as spaces.
        for (int i = 148; i < 156; i++) {
            h[i] = ' ';
        }
        long sum = 0;
        for (byte b : h) {
            sum += b & 0xff;
        }
        octal(h, 148, 7, sum);
        h[155] = ' ';
        out.write(h);
    }

    /** {@code value} as zero-padded octal digits followed by NUL, filling {@code length} bytes. */
    private static void octal(byte[] h, int offset, int length, long value) {
        String digits = Long.toOctalString(value);
        if (digits.length() > length - 1) {
            throw new IllegalArgumentException("tar field too small for " + value);
        }
        ascii(h, offset, "0".repeat(length - 1 - digits.length()) + digits);
        h[offset + length - 1] = 0;
    }

    private static void ascii(byte[] h, int offset, String s) {
        byte[] b = s.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(b, 0, h, offset, b.length);
    }
}
