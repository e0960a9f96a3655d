package dev.pollen.agent.vortex;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.MessageToByteEncoder;
import java.nio.charset.StandardCharsets;

/**
 * Writes a {@link VortexFrame}'s header and value. Piece bytes are not frames: the server writes them
 * after the PieceContent as a file region, which passes through this encoder untouched.
 */
@ChannelHandler.Sharable
public final class VortexEncoder extends MessageToByteEncoder<VortexFrame> {
    public static final VortexEncoder INSTANCE = new VortexEncoder();

    private VortexEncoder() {
    }

    @Override
    protected void encode(ChannelHandlerContext ctx, VortexFrame frame, ByteBuf out) {
        encode(frame, out);
    }

    /** The frame's bytes appended to {@code out}; also what tests and raw peers use. */
    public static void encode(VortexFrame frame, ByteBuf out) {
        out.writeByte(frame.id());
        out.writeByte(frame.tag().value());
        int lengthIndex = out.writerIndex();
        out.writeInt(0);
        int valueStart = out.writerIndex();
        switch (frame) {
            case VortexFrame.DownloadPiece d -> {
                if (d.taskId().length() != VortexWire.TASK_ID_SIZE) {
                    throw new IllegalArgumentException("task id of " + d.taskId().length() + " characters (expected: "
                            + VortexWire.TASK_ID_SIZE + ")");
                }
                out.writeCharSequence(d.taskId(), StandardCharsets.US_ASCII);
                out.writeInt((int) d.number());
            }
            case VortexFrame.PieceContent p -> {
                int metadataLengthIndex = out.writerIndex();
                out.writeInt(0);
                out.writeInt((int) p.number());
                out.writeLong(p.offset());
                out.writeLong(p.length());
                writeLengthPrefixed(out, p.digest());
                writeLengthPrefixed(out, p.parentId());
                out.writeByte(p.trafficType());
                out.writeLong(p.cost().toSeconds());
                out.writeLong(p.createdAt().getEpochSecond());
                out.setInt(metadataLengthIndex, out.writerIndex() - metadataLengthIndex - VortexWire.METADATA_LENGTH_SIZE);
            }
            case VortexFrame.Close c -> {
                // An empty value.
            }
            case VortexFrame.ErrorFrame e -> {
                out.writeByte(e.code());
                out.writeCharSequence(e.message(), StandardCharsets.UTF_8);
            }
        }
        out.setInt(lengthIndex, out.writerIndex() - valueStart);
    }

    private static void writeLengthPrefixed(ByteBuf out, String s) {
        out.writeInt(ByteBufUtil.utf8Bytes(s));
        out.writeCharSequence(s, StandardCharsets.UTF_8);
    }
}
