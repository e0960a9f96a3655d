package dev.pollen.agent.vortex;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.DefaultByteBufHolder;

/**
 * A bounded run of piece bytes following a {@link VortexFrame.PieceContent}, in order. The receiver
 * writes it where it belongs and releases it; {@link #last()} marks the slice that completes the piece
 * (a zero-length piece yields one empty last slice).
 */
public final class ContentSlice extends DefaultByteBufHolder {
    private final boolean last;

    public ContentSlice(ByteBuf bytes, boolean last) {
        super(bytes);
        this.last = last;
    }

    public boolean last() {
        return last;
    }

    @Override
    public ContentSlice replace(ByteBuf content) {
        return new ContentSlice(content, last);
    }

    @Override
    public String toString() {
        return "ContentSlice(bytes=" + content().readableBytes() + ", last=" + last + ")";
    }
}
