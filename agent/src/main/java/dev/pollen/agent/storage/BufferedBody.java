package dev.pollen.agent.storage;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A body that hands its bytes over in the buffers they arrived in, so that {@link PieceWriter} writes a piece from the
 * socket's buffers to the content file without copying it into a buffer of its own first (on a 2-core node every
 * copy of a layer is CPU the node's containerd also wants).
 */
public interface BufferedBody {
    /**
     * Passes up to {@code max} of the next bytes, in order, to {@code sink}, waiting for at least one.
     *
     * @return how many bytes went to the sink, or -1 at the end of the body
     */
    long drain(long max, Sink sink) throws IOException;

    /** Takes bytes that are valid only during the call. */
    @FunctionalInterface
    interface Sink {
        void accept(ByteBuffer bytes) throws IOException;
    }
}
