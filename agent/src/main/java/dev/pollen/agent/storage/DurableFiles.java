package dev.pollen.agent.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.HexFormat;
import java.util.zip.CRC32;

/**
 * Small files that must survive a crash whole or not at all: written to a temporary sibling, synced,
 * renamed over the target, and the directory synced so the rename itself is durable. A CRC-32 header
 * line guards against a torn or bit-rotted file being read as valid.
 */
public final class DurableFiles {
    private DurableFiles() {
    }

    public static void write(Path target, byte[] body) throws IOException {
        Path tmp = target.resolveSibling("." + target.getFileName() + ".tmp");
        byte[] header = (HexFormat.of().toHexDigits((int) crc(body)) + "\n").getBytes(StandardCharsets.US_ASCII);
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer buf = ByteBuffer.allocate(header.length + body.length).put(header).put(body).flip();
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            ch.force(true);
        }
        try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("filesystem of " + target + " cannot rename atomically", e);
        }
        syncDirectory(target.getParent());
    }

    /** The body, or null if the file is missing, truncated or fails its checksum. */
    public static byte[] read(Path file) throws IOException {
        if (!Files.exists(file)) {
            return null;
        }
        byte[] all = Files.readAllBytes(file);
        if (all.length < 9 || all[8] != '\n') {
            return null;
        }
        byte[] body = java.util.Arrays.copyOfRange(all, 9, all.length);
        String expected = new String(all, 0, 8, StandardCharsets.US_ASCII);
        if (!expected.equals(HexFormat.of().toHexDigits((int) crc(body)))) {
            return null;
        }
        return body;
    }

    public static void syncDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }

    static long crc(byte[] bytes) {
        CRC32 crc = new CRC32();
        crc.update(bytes);
        return crc.getValue();
    }
}
