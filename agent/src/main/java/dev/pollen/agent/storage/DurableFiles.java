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
 * Every step that makes something of the store durable goes through here. Small files that must survive
 * a crash whole or not at all are written to a temporary sibling of a unique name, synced, renamed over
 * the target, and the directory synced so the rename itself is durable. A CRC-32 header line guards
 * against a torn or bit-rotted file being read as valid.
 */
public final class DurableFiles {
    /** What a durability step did, in the order done; only tests watch it. */
    enum Step { FORCE, RENAME, SYNC_DIRECTORY }

    interface Observer {
        void done(Step step, Path path);
    }

    /** Tests of the order of durability steps replace this; production leaves it a no-op. */
    static volatile Observer observer = (step, path) -> { };

    private DurableFiles() {
    }

    public static void write(Path target, byte[] body) throws IOException {
        // Unique per write: two writers of one file (a download and a concurrent stat) never share a temp file.
        Path tmp = Files.createTempFile(target.getParent(), "." + target.getFileName() + ".", ".tmp");
        try {
            byte[] header = (HexFormat.of().toHexDigits((int) crc(body)) + "\n").getBytes(StandardCharsets.US_ASCII);
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ByteBuffer buf = ByteBuffer.allocate(header.length + body.length).put(header).put(body).flip();
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                force(ch, tmp);
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("filesystem of " + target + " cannot rename atomically", e);
            }
            observer.done(Step.RENAME, target);
        } finally {
            Files.deleteIfExists(tmp);
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

    /** Forces a file's bytes and size to the device ({@code file} names it for the record). */
    public static void force(FileChannel channel, Path file) throws IOException {
        channel.force(true);
        observer.done(Step.FORCE, file);
    }

    /** Forces a file's bytes and size to the device, through a channel of its own. */
    public static void force(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            force(ch, file);
        }
    }

    /** Makes the directory's entries (files created, renamed, linked or removed in it) durable. */
    public static void syncDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
        observer.done(Step.SYNC_DIRECTORY, dir);
    }

    static long crc(byte[] bytes) {
        CRC32 crc = new CRC32();
        crc.update(bytes);
        return crc.getValue();
    }
}
