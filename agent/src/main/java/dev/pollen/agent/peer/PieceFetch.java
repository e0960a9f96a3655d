package dev.pollen.agent.peer;

import dev.pollen.agent.storage.LocalWriteException;
import dev.pollen.agent.vortex.ContentSlice;
import dev.pollen.agent.vortex.VortexException;
import dev.pollen.agent.vortex.VortexException.Reason;
import dev.pollen.agent.vortex.VortexFrame;
import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.concurrent.CompletableFuture;
import java.util.zip.CRC32;

/**
 * One piece being received: checks the parent's metadata against what this task expects, writes each
 * slice at its place in the content file while computing the CRC-32, and compares it with the announced
 * digest at the end. Driven on the connection's event loop; the caller waits on {@link #result()}.
 */
final class PieceFetch {
    /** The bytes are on disk and match the digest the parent announced. */
    record Received(long length, long crc32) {
    }

    private final String parent;
    private final String taskId;
    private final ExpectedPiece expected;
    private final FileChannel out;
    /** Where the piece's first byte goes in {@code out}: its offset in the content file, or 0 in a scratch file. */
    private final long outOffset;
    private final CompletableFuture<Received> result = new CompletableFuture<>();
    private final CRC32 crc = new CRC32();
    private long announcedCrc = -1;
    private long announcedLength = -1;
    private long written;
    private volatile boolean answered;

    PieceFetch(String parent, String taskId, ExpectedPiece expected, FileChannel out, long outOffset) {
        this.parent = parent;
        this.taskId = taskId;
        this.expected = expected;
        this.out = out;
        this.outOffset = outOffset;
    }

    VortexFrame.DownloadPiece request() {
        return VortexFrame.DownloadPiece.of(taskId, expected.number());
    }

    /** The most content the decoder may accept for this request. */
    long maxContent() {
        return expected.length();
    }

    CompletableFuture<Received> result() {
        return result;
    }

    /** Whether any answer arrived: a connection that died before one may simply have been stale. */
    boolean answered() {
        return answered;
    }

    void onMetadata(VortexFrame.PieceContent m) throws VortexException {
        answered = true;
        if (m.number() != expected.number() || m.offset() != expected.offset() || !expected.accepts(m.length())) {
            throw new VortexException(Reason.UNEXPECTED_PIECE, "parent " + parent + " announced piece " + m.number() + " at offset "
                    + m.offset() + " with " + m.length() + " bytes for task " + taskId + " (expected: piece " + expected.number()
                    + " at offset " + expected.offset() + " with " + (expected.exact() ? "" : "at most ") + expected.length()
                    + " bytes)");
        }
        announcedCrc = parseCrc32(m.digest());
        announcedLength = m.length();
    }

    void onSlice(ContentSlice slice) throws VortexException {
        if (result.isDone()) {
            return;
        }
        if (announcedLength < 0) {
            throw new VortexException(Reason.UNEXPECTED_FRAME, "piece bytes arrived before their metadata");
        }
        ByteBuf bytes = slice.content();
        for (ByteBuffer nio : bytes.nioBuffers(bytes.readerIndex(), bytes.readableBytes())) {
            crc.update(nio.duplicate());
            long position = outOffset + written;
            int n = nio.remaining();
            try {
                while (nio.hasRemaining()) {
                    position += out.write(nio, position);
                }
            } catch (IOException e) {
                // Our disk, not the parent: the reason tells the caller not to blame it.
                throw new VortexException(Reason.LOCAL_WRITE_FAILED, "cannot write piece " + expected.number() + " of task "
                        + taskId + " to the content file: " + e.getMessage(), new LocalWriteException(nio.remaining(), e));
            }
            written += n;
        }
        if (slice.last()) {
            if (written != announcedLength) {
                throw new VortexException(Reason.MALFORMED_FRAME, "received " + written + " of " + announcedLength + " bytes");
            }
            if (crc.getValue() != announcedCrc) {
                throw new VortexException(Reason.DIGEST_MISMATCH, "piece " + expected.number() + " of task " + taskId + " from parent "
                        + parent + " has crc32:" + crc.getValue() + " but the parent announced crc32:" + announcedCrc);
            }
            result.complete(new Received(written, announcedCrc));
        }
    }

    void onError(VortexFrame.ErrorFrame frame) {
        answered = true;
        result.completeExceptionally(VortexException.remote(frame, parent));
    }

    /** Ends the fetch; from here on, late bytes from the connection are dropped, never written. */
    void fail(Throwable cause) {
        result.completeExceptionally(cause);
    }

    long written() {
        return written;
    }

    long announcedLength() {
        return announcedLength;
    }

    private long parseCrc32(String digest) throws VortexException {
        String prefix = "crc32:";
        if (digest.startsWith(prefix)) {
            try {
                long value = Long.parseLong(digest.substring(prefix.length()));
                if (value >= 0 && value <= 0xFFFF_FFFFL) {
                    return value;
                }
            } catch (NumberFormatException ignored) {
                // Falls through to the refusal below.
            }
        }
        throw new VortexException(Reason.UNEXPECTED_PIECE, "parent " + parent + " announced digest '" + digest + "' for piece "
                + expected.number() + " of task " + taskId + " (expected: crc32:<decimal>)");
    }
}
