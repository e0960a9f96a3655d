package dev.pollen.agent.upload;

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

/**
 * A fault for tests only, enabled by nothing but dfdaemon's explicit command-line flag
 * {@code --debug-fault-injection=corrupt-uploads} (no config key or environment variable reaches it): every
 * piece this node uploads has one byte flipped, so tests can prove that children detect bad pieces by their
 * CRC-32, fetch them elsewhere, and report the parent. The bytes on disk stay intact.
 */
public final class CorruptingPieces implements UploadPieces {
    /** The value of dfdaemon's {@code --debug-fault-injection} that turns it on. */
    public static final String FAULT = "corrupt-uploads";

    private final UploadPieces honest;

    public CorruptingPieces(UploadPieces honest) {
        this.honest = honest;
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
            Path copy = Files.createTempFile("pollen-corrupt-", ".piece");
            FileChannel channel = FileChannel.open(copy, StandardOpenOption.READ, StandardOpenOption.WRITE,
                    StandardOpenOption.DELETE_ON_CLOSE);
            channel.write(bytes, real.piece().offset());
            return new PieceLease(real.piece(), channel, () -> {
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
