package dev.pollen.agent.vortex;

import dev.pollen.agent.vortex.VortexException.Reason;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.DateTimeException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/**
 * Turns Vortex bytes into {@link VortexFrame}s and, after a PieceContent, {@link ContentSlice}s.
 *
 * <p>Every declared length is read unsigned and checked against its tag's bound before a byte of the
 * value is waited for, so a peer cannot make this side buffer more than {@link VortexWire#MAX_ERROR_LENGTH}
 * (or a request's fixed 68 bytes). Piece content is never accumulated: each read is handed on as a
 * retained slice of at most {@link VortexWire#MAX_CONTENT_SLICE} bytes, and its announced length must
 * not exceed what {@link #expectContent} allowed for the outstanding request. A violation moves the
 * decoder to {@link State#BAD} for good: it throws one {@link VortexException} (the handler answers and
 * closes) and discards whatever else arrives. Partial input is only ever the base class's cumulation,
 * which it releases when the channel goes inactive.
 *
 * <p>Which tags are legal depends on the side: a server decodes requests (DownloadPiece, Close), a
 * client responses (PieceContent, Error, Close). Anything else is an unknown tag.
 */
public final class VortexDecoder extends ByteToMessageDecoder {
    /** Which end of the connection this decoder serves. */
    public enum Side { SERVER, CLIENT }

    enum State { HEADER, VALUE, CONTENT, BAD }

    private final Side side;
    private State state = State.HEADER;
    private int id;
    private VortexTag tag;
    private int valueLength;
    private long contentRemaining;
    private long contentLimit = -1;

    public VortexDecoder(Side side) {
        this.side = side;
    }

    /**
     * Allows the next PieceContent to announce at most {@code maxLength} bytes. A client calls this on the
     * event loop before it sends each request; a PieceContent that arrives unasked is a protocol error.
     */
    public void expectContent(long maxLength) {
        if (side != Side.CLIENT || maxLength < 0) {
            throw new IllegalArgumentException("expectContent(" + maxLength + ") on a " + side + " decoder");
        }
        contentLimit = maxLength;
    }

    State state() {
        return state;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws VortexException {
        switch (state) {
            case HEADER -> decodeHeader(in, out);
            case VALUE -> decodeValue(in, out);
            case CONTENT -> decodeContent(in, out);
            case BAD -> in.skipBytes(in.readableBytes());
        }
    }

    private void decodeHeader(ByteBuf in, List<Object> out) throws VortexException {
        if (in.readableBytes() < VortexWire.HEADER_SIZE) {
            return;
        }
        id = in.readUnsignedByte();
        int rawTag = in.readUnsignedByte();
        long length = in.readUnsignedInt();
        tag = VortexTag.of(rawTag);
        if (tag == null || !legalOnThisSide(tag)) {
            throw fail(in, Reason.UNKNOWN_TAG, "unknown tag " + rawTag + " for a " + side + " (expected: "
                    + (side == Side.SERVER ? "0 DownloadPiece or 254 Close" : "1 PieceContent, 254 Close or 255 Error") + ")");
        }
        checkLength(in, length);
        valueLength = (int) length;
        if (valueLength == 0) {
            out.add(new VortexFrame.Close(id));
            return;
        }
        state = State.VALUE;
    }

    private boolean legalOnThisSide(VortexTag t) {
        return switch (t) {
            case DOWNLOAD_PIECE -> side == Side.SERVER;
            case PIECE_CONTENT, ERROR -> side == Side.CLIENT;
            case CLOSE -> true;
        };
    }

    private void checkLength(ByteBuf in, long length) throws VortexException {
        long min;
        long max;
        switch (tag) {
            case DOWNLOAD_PIECE -> min = max = VortexWire.DOWNLOAD_PIECE_LENGTH;
            case PIECE_CONTENT -> {
                min = VortexWire.MIN_PIECE_CONTENT_LENGTH;
                max = VortexWire.MAX_PIECE_CONTENT_LENGTH;
            }
            case ERROR -> {
                min = VortexWire.MIN_ERROR_LENGTH;
                max = VortexWire.MAX_ERROR_LENGTH;
            }
            case CLOSE -> min = max = 0;
            default -> throw new IllegalStateException("unreachable: " + tag);
        }
        if (length > max) {
            throw fail(in, Reason.FRAME_TOO_LONG, tag + " frame declares " + length + " value bytes (expected: at most " + max + ")");
        }
        if (length < min) {
            throw fail(in, Reason.MALFORMED_FRAME, tag + " frame declares " + length + " value bytes (expected: at least " + min + ")");
        }
    }

    private void decodeValue(ByteBuf in, List<Object> out) throws VortexException {
        if (in.readableBytes() < valueLength) {
            return;
        }
        ByteBuf value = in.readSlice(valueLength);
        switch (tag) {
            case DOWNLOAD_PIECE -> {
                String taskId = value.readCharSequence(VortexWire.TASK_ID_SIZE, StandardCharsets.US_ASCII).toString();
                out.add(new VortexFrame.DownloadPiece(id, taskId, value.readUnsignedInt()));
                state = State.HEADER;
            }
            case ERROR -> {
                int code = value.readUnsignedByte();
                out.add(new VortexFrame.ErrorFrame(id, code, utf8(in, value, value.readableBytes(), "error message")));
                state = State.HEADER;
            }
            case PIECE_CONTENT -> startContent(in, pieceContent(in, value), out);
            default -> throw new IllegalStateException("unreachable: " + tag);
        }
    }

    private VortexFrame.PieceContent pieceContent(ByteBuf in, ByteBuf value) throws VortexException {
        long metadataLength = value.readUnsignedInt();
        if (metadataLength != value.readableBytes()) {
            throw fail(in, Reason.MALFORMED_FRAME, "PieceContent metadata length " + metadataLength + " does not match the "
                    + value.readableBytes() + " bytes left in its " + valueLength + "-byte value");
        }
        long number = value.readUnsignedInt();
        long offset = value.readLong();
        long length = value.readLong();
        if (offset < 0 || length < 0) {
            throw fail(in, Reason.MALFORMED_FRAME, "PieceContent offset " + Long.toUnsignedString(offset) + " or length "
                    + Long.toUnsignedString(length) + " is beyond 2^63-1");
        }
        String digest = lengthPrefixedUtf8(in, value, "digest");
        String parentId = lengthPrefixedUtf8(in, value, "parent id");
        if (value.readableBytes() != 1 + 8 + 8) {
            throw fail(in, Reason.MALFORMED_FRAME, "PieceContent metadata has " + value.readableBytes()
                    + " bytes after the parent id (expected: 17 for traffic type, cost and created_at)");
        }
        int trafficType = value.readUnsignedByte();
        long costSeconds = value.readLong();
        long createdSeconds = value.readLong();
        if (costSeconds < 0) {
            throw fail(in, Reason.MALFORMED_FRAME, "PieceContent cost " + Long.toUnsignedString(costSeconds) + " s is beyond 2^63-1");
        }
        Instant createdAt;
        try {
            createdAt = Instant.ofEpochSecond(createdSeconds);
        } catch (DateTimeException e) {
            throw fail(in, Reason.MALFORMED_FRAME, "PieceContent created_at " + createdSeconds + " is not a representable time");
        }
        return new VortexFrame.PieceContent(id, number, offset, length, digest, parentId, trafficType,
                Duration.ofSeconds(costSeconds), createdAt);
    }

    private void startContent(ByteBuf in, VortexFrame.PieceContent frame, List<Object> out) throws VortexException {
        if (contentLimit < 0) {
            throw fail(in, Reason.UNEXPECTED_FRAME, "PieceContent for piece " + frame.number() + " arrived with no request outstanding");
        }
        if (frame.length() > contentLimit) {
            throw fail(in, Reason.CONTENT_TOO_LONG, "PieceContent announces " + frame.length() + " bytes for piece "
                    + frame.number() + " (expected: at most " + contentLimit + ")");
        }
        contentLimit = -1;
        out.add(frame);
        contentRemaining = frame.length();
        if (contentRemaining == 0) {
            out.add(new ContentSlice(Unpooled.EMPTY_BUFFER, true));
            state = State.HEADER;
        } else {
            state = State.CONTENT;
        }
    }

    private void decodeContent(ByteBuf in, List<Object> out) {
        int n = (int) Math.min(Math.min(in.readableBytes(), contentRemaining), VortexWire.MAX_CONTENT_SLICE);
        if (n == 0) {
            return;
        }
        contentRemaining -= n;
        boolean last = contentRemaining == 0;
        out.add(new ContentSlice(in.readRetainedSlice(n), last));
        if (last) {
            state = State.HEADER;
        }
    }

    private String lengthPrefixedUtf8(ByteBuf in, ByteBuf value, String what) throws VortexException {
        if (value.readableBytes() < 4) {
            throw fail(in, Reason.MALFORMED_FRAME, "PieceContent metadata ends before the " + what + " length");
        }
        long length = value.readUnsignedInt();
        if (length > value.readableBytes()) {
            throw fail(in, Reason.MALFORMED_FRAME, "PieceContent " + what + " length " + length + " exceeds the "
                    + value.readableBytes() + " metadata bytes left");
        }
        return utf8(in, value, (int) length, what);
    }

    private String utf8(ByteBuf in, ByteBuf value, int length, String what) throws VortexException {
        try {
            String s = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(value.nioBuffer(value.readerIndex(), length))
                    .toString();
            value.skipBytes(length);
            return s;
        } catch (CharacterCodingException e) {
            throw fail(in, Reason.MALFORMED_FRAME, tag + " " + what + " is not valid UTF-8");
        }
    }

    /** Moves to BAD for good: the stream is out of step, so nothing after this point can be framed. */
    private VortexException fail(ByteBuf in, Reason reason, String message) {
        state = State.BAD;
        contentLimit = -1;
        in.skipBytes(in.readableBytes());
        return new VortexException(reason, message);
    }
}
