package dev.pollen.agent.upload.vortex;

import io.netty.handler.stream.ChunkedNioFile;
import java.io.IOException;
import java.nio.channels.FileChannel;

/**
 * A piece read in chunks from a content file whose channel belongs to the task, for connections under TLS, where
 * sendfile cannot go: the bytes must pass through the cipher. {@link ChunkedNioFile} closes its channel at the end;
 * this one leaves it open.
 */
final class SharedChunkedFile extends ChunkedNioFile {
    /** Large chunks: fewer TLS records and fewer reads per piece (TLS splits them into 16 KiB records anyway). */
    private static final int CHUNK = 256 * 1024;

    SharedChunkedFile(FileChannel file, long position, long count) throws IOException {
        super(file, position, count, CHUNK);
    }

    @Override
    public void close() {
        // The channel is the task's; its owner closes it.
    }
}
