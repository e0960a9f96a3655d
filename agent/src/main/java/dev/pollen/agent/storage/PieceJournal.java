package dev.pollen.agent.storage;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;

/**
 * An append-only log of finished pieces. A record is appended only after the piece's bytes are written
 * to the content file, so after a kill -9 (the page cache survives) every record names bytes that are
 * there. Each record carries its own checksum: a torn tail after a power loss ends the log instead of
 * being trusted, and the resume path re-checks each piece's CRC against the content anyway.
 */
final class PieceJournal implements Closeable {
    static final int RECORD_BYTES = 4 + 8 + 8 + 4 + 4;

    private final Path file;
    private final FileChannel channel;

    PieceJournal(Path file) throws IOException {
        this.file = file;
        channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
    }

    synchronized void append(PieceRecord piece) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(RECORD_BYTES);
        buf.putInt(piece.number()).putLong(piece.offset()).putLong(piece.length()).putInt((int) piece.crc32());
        CRC32 crc = new CRC32();
        crc.update(buf.array(), 0, RECORD_BYTES - 4);
        buf.putInt((int) crc.getValue()).flip();
        while (buf.hasRemaining()) {
            channel.write(buf);
        }
    }

    /** Not under the monitor: an fsync takes long, and appends may go on meanwhile (the channel is thread-safe). */
    void sync() throws IOException {
        DurableFiles.force(channel, file);
    }

    /** The valid records of a journal, in the order written, stopping at the first damaged one. */
    static List<PieceRecord> read(Path file) throws IOException {
        List<PieceRecord> records = new ArrayList<>();
        if (!Files.exists(file)) {
            return records;
        }
        ByteBuffer all = ByteBuffer.wrap(Files.readAllBytes(file));
        CRC32 crc = new CRC32();
        while (all.remaining() >= RECORD_BYTES) {
            int start = all.position();
            int number = all.getInt();
            long offset = all.getLong();
            long length = all.getLong();
            long pieceCrc = Integer.toUnsignedLong(all.getInt());
            long recordCrc = Integer.toUnsignedLong(all.getInt());
            crc.reset();
            crc.update(all.array(), start, RECORD_BYTES - 4);
            if (crc.getValue() != recordCrc || number < 0 || offset < 0 || length < 0) {
                break;
            }
            records.add(new PieceRecord(number, offset, length, pieceCrc));
        }
        return records;
    }

    @Override
    public synchronized void close() throws IOException {
        channel.close();
    }
}
