package dev.pollen.agent.storage;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.zip.CRC32;

/**
 * Copies piece bytes from a stream to their offset in the content file, computing the CRC-32 on the way, through one
 * bounded buffer (the heap stays small whatever the piece length), or straight from the buffers of a {@link
 * BufferedBody}. A failure to read is the sender's; a failure to write is ours and comes as a {@link
 * LocalWriteException}, so that the origin's retry loop never retries our full disk against the origin.
 */
public final class PieceWriter {
    private static final int BUFFER = 128 * 1024;

    private PieceWriter() {
    }

    /** The result of writing: bytes written and their CRC-32. */
    public record Written(long length, long crc32) {
    }

    /** Writes exactly {@code length} bytes; a stream that ends early is an {@link EOFException}. */
    public static Written writeExactly(InputStream in, FileChannel out, long offset, long length) throws IOException {
        Written w = writeUpTo(in, out, offset, length);
        if (w.length() != length) {
            throw new EOFException("origin closed the stream after " + w.length() + " of " + length + " bytes");
        }
        return w;
    }

    /** Writes up to {@code max} bytes, fewer when the stream ends first; a failed write is a {@link LocalWriteException}. */
    public static Written writeUpTo(InputStream in, FileChannel out, long offset, long max) throws IOException {
        if (in instanceof BufferedBody body) {
            return writeBuffers(body, out, offset, max);
        }
        byte[] chunk = new byte[(int) Math.min(BUFFER, Math.max(1, max))];
        CRC32 crc = new CRC32();
        long done = 0;
        while (done < max) {
            int n = in.read(chunk, 0, (int) Math.min(chunk.length, max - done));
            if (n < 0) {
                break;
            }
            crc.update(chunk, 0, n);
            ByteBuffer buf = ByteBuffer.wrap(chunk, 0, n);
            long pos = offset + done;
            try {
                while (buf.hasRemaining()) {
                    pos += out.write(buf, pos);
                }
            } catch (IOException e) {
                throw new LocalWriteException(buf.remaining(), e);
            }
            done += n;
        }
        return new Written(done, crc.getValue());
    }

    private static Written writeBuffers(BufferedBody body, FileChannel out, long offset, long max) throws IOException {
        CRC32 crc = new CRC32();
        long[] position = {offset};
        BufferedBody.Sink sink = bytes -> {
            crc.update(bytes.duplicate());
            try {
                while (bytes.hasRemaining()) {
                    position[0] += out.write(bytes, position[0]);
                }
            } catch (IOException e) {
                throw new LocalWriteException(bytes.remaining(), e);
            }
        };
        long done = 0;
        while (done < max) {
            long n = body.drain(max - done, sink);
            if (n < 0) {
                break;
            }
            done += n;
        }
        return new Written(done, crc.getValue());
    }

    /** Records a written piece in the task's journal; a failure there is local too. */
    public static void record(StoredTask store, PieceRecord piece) throws LocalWriteException {
        try {
            store.recordPiece(piece);
        } catch (IOException e) {
            throw new LocalWriteException(0, e);
        }
    }
}
