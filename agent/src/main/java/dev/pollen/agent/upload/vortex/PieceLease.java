package dev.pollen.agent.upload.vortex;

import dev.pollen.agent.storage.PieceRecord;
import java.nio.channels.FileChannel;
import java.util.Objects;

/**
 * A recorded piece and the open content channel to send it from, held until the send completes so the
 * task cannot be closed or collected underneath it.
 *
 * @param release run exactly once when the send is over, whether it succeeded or not
 */
public record PieceLease(PieceRecord piece, FileChannel content, Runnable release) implements AutoCloseable {
    public PieceLease {
        Objects.requireNonNull(piece, "piece");
        Objects.requireNonNull(content, "content");
        Objects.requireNonNull(release, "release");
    }

    @Override
    public void close() {
        release.run();
    }
}
