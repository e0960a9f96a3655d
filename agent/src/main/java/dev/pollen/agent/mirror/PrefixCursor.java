package dev.pollen.agent.mirror;

import io.netty.channel.DefaultFileRegion;
import java.io.File;
import java.io.IOException;
import java.util.BitSet;

/**
 * Sends a byte span of a task's content as its pieces land, in whatever order they land: the bytes from the cursor to
 * the first piece still missing are sent, zero-copy from the content file, as soon as that prefix grows.
 */
final class PrefixCursor {
    /** One write at most this long, so the output's bound on outstanding writes also bounds what the socket queues. */
    private static final long REGION = 4L << 20;

    private final File content;
    private final long pieceLength;
    private final long end;
    private final ChannelOutput out;
    private final BitSet landed = new BitSet();
    private long position;

    /** Bytes {@code start} (inclusive) to {@code end} (exclusive) of the content. */
    PrefixCursor(File content, long pieceLength, long start, long end, ChannelOutput out) {
        this.content = content;
        this.pieceLength = pieceLength;
        this.position = start;
        this.end = end;
        this.out = out;
    }

    void landed(int piece) {
        landed.set(piece);
    }

    /** Where the contiguous landed prefix from the cursor ends (exclusive). */
    long prefixEnd() {
        int next = (int) (position / pieceLength);
        int missing = landed.nextClearBit(next);
        return Math.min(end, (long) missing * pieceLength);
    }

    /** Sends the landed prefix, but nothing at or past {@code limit}. */
    void sendUpTo(long limit) throws IOException {
        long until = Math.min(prefixEnd(), limit);
        while (position < until) {
            long count = Math.min(REGION, until - position);
            out.write(new DefaultFileRegion(content, position, count), count);
            position += count;
        }
    }

    long position() {
        return position;
    }
}
