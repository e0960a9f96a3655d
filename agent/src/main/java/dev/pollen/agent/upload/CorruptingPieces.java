package dev.pollen.agent.upload;

import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.upload.vortex.PieceLease;
import dev.pollen.agent.upload.vortex.UploadPieces;
import dev.pollen.agent.vortex.VortexException;
import dev.pollen.agent.vortex.VortexException.Reason;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32;

/**
 * A fault for tests only, enabled by nothing but dfdaemon's explicit command-line flag
 * {@code --debug-fault-injection} (no config key or environment variable reaches it): every piece this node uploads
 * has one byte flipped. The bytes on disk stay intact.
 */
public final class CorruptingPieces implements UploadPieces {
    /** The faults, by their value of dfdaemon's {@code --debug-fault-injection}. */
    public enum Fault {
        /** The piece is announced with the CRC-32 of the true bytes: children catch it by the CRC, piece by piece. */
        CORRUPT("corrupt-uploads"),
        /**
         * The CRC-32 announced is that of the flipped bytes, as a parent that lies consistently would send: every piece
         * passes, and only the task's content digest (a blob's sha256) can catch the copy.
         */
        FORGE("forge-uploads");

        private final String flag;

        Fault(String flag) {
            this.flag = flag;
        }

        public String flag() {
            return flag;
        }

        /** The fault a flag value names; null when it names none. */
        public static Fault of(String flag) {
            for (Fault f : values()) {
                if (f.flag.equals(flag)) {
                    return f;
                }
            }
            return null;
        }
    }

    private final UploadPieces honest;
    private final Fault fault;

    public CorruptingPieces(UploadPieces honest, Fault fault) {
        this.honest = honest;
        this.fault = fault;
    }

    @Override
    public PieceLease lease(String taskId, int number) throws VortexException {
        try (PieceLease real = honest.lease(taskId, number)) {
            long length = real.piece().length();
            ByteBuffer bytes = ByteBuffer.allocate((int) length);
            while (bytes.hasRemaining() && real.content().read(bytes, real.piece().offset() + bytes.position()) > 0) {
                // reads until the piece is in memory
            }
            bytes.put(0, (byte) (bytes.get(0) ^ 0xFF)).flip();
            PieceRecord announced = real.piece();
            if (fault == Fault.FORGE) {
                CRC32 crc = new CRC32();
                crc.update(bytes.duplicate());
                announced = new PieceRecord(announced.number(), announced.offset(), announced.length(), crc.getValue());
            }
            Path copy = Files.createTempFile("pollen-corrupt-", ".piece");
            FileChannel channel = FileChannel.open(copy, StandardOpenOption.READ, StandardOpenOption.WRITE,
                    StandardOpenOption.DELETE_ON_CLOSE);
            channel.write(bytes, real.piece().offset());
            return new PieceLease(announced, channel, () -> {
                try {
                    channel.close();
                } catch (IOException ignored) {
                    // a temp file: closing deletes it
                }
            });
        } catch (IOException e) {
            throw new VortexException(Reason.INTERNAL, "fault injection failed: " + e.getMessage(), e);
        }
    }
}
