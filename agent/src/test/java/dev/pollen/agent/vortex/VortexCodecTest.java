package dev.pollen.agent.vortex;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pollen.agent.vortex.VortexException.Reason;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import java.io.ByteArrayOutputStream;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Byte-literal vectors for every frame Pollen speaks, worked out by hand from the upstream layout (see
 * {@link VortexWire}): header {@code id u8 | tag u8 | length u32 BE}, then the value.
 */
public final class VortexCodecTest {
    /** sha256("https://example.comSTANDARD"), a real task id. */
    public static final String TASK_ID = "457b4328cde278e422c9e243f7bfd1e97f511fec43a80f535cf6b0ef6b086776";

    /** DownloadPiece: id 0x2a, tag 0, length 68; the task id's 64 ASCII bytes; piece number 7 (u32 BE). */
    static final String DOWNLOAD_PIECE = "2a 00 00000044"
            + " 34353762343332386364653237386534323263396532343366376266643165393766353131666563343361383066353335636636623065663662303836373736"
            + " 00000007";

    /**
     * PieceContent: id 1, tag 1, length 0x43 = 4 + 63; metadata length 63; number 1; offset 4; length 4;
     * digest length 16, "crc32:3410839061" (CRC-32 of "pqrs"); parent id length 2, "p1"; traffic type 1;
     * cost 5 s; created_at 1693152000 s. Then the 4 raw content bytes "pqrs", outside the header's length.
     */
    static final String PIECE_CONTENT_HEADER = "01 01 00000043 0000003f"
            + " 00000001 0000000000000004 0000000000000004"
            + " 00000010 63726333323a33343130383339303631"
            + " 00000002 7031"
            + " 01 0000000000000005 0000000064eb7300";
    static final String PIECE_CONTENT_BYTES = "70717273";

    /** Error: id 3, tag 255, length 16; code 2 (NotFound); "piece not found" with no separator. */
    static final String ERROR = "03 ff 00000010 02 7069656365206e6f7420666f756e64";

    /** Close: id 4, tag 254, empty value. */
    public static final String CLOSE = "04 fe 00000000";

    static final VortexFrame.PieceContent PIECE_CONTENT_FRAME = new VortexFrame.PieceContent(1, 1, 4, 4, "crc32:3410839061", "p1", 1,
            Duration.ofSeconds(5), Instant.ofEpochSecond(1693152000));

    public static byte[] hex(String s) {
        return HexFormat.of().parseHex(s.replace(" ", ""));
    }

    private static EmbeddedChannel server() {
        return new EmbeddedChannel(new VortexDecoder(VortexDecoder.Side.SERVER));
    }

    private static EmbeddedChannel client(long expectContent) {
        VortexDecoder decoder = new VortexDecoder(VortexDecoder.Side.CLIENT);
        if (expectContent >= 0) {
            decoder.expectContent(expectContent);
        }
        return new EmbeddedChannel(decoder);
    }

    private static byte[] encode(VortexFrame frame) {
        EmbeddedChannel ch = new EmbeddedChannel(VortexEncoder.INSTANCE);
        ch.writeOutbound(frame);
        ByteBuf out = ch.readOutbound();
        try {
            return ByteBufUtil.getBytes(out);
        } finally {
            out.release();
        }
    }

    private static Reason reasonOf(Throwable t) {
        assertThat(t).isInstanceOf(DecoderException.class).hasCauseInstanceOf(VortexException.class);
        return ((VortexException) t.getCause()).reason();
    }

    private static VortexDecoder.State stateOf(EmbeddedChannel ch) {
        return ch.pipeline().get(VortexDecoder.class).state();
    }

    /** Everything a channel decoded: frames as they are, content slices concatenated into one entry. */
    private static List<Object> drain(EmbeddedChannel ch) {
        List<Object> out = new ArrayList<>();
        ByteArrayOutputStream content = new ByteArrayOutputStream();
        Object msg;
        while ((msg = ch.readInbound()) != null) {
            if (msg instanceof ContentSlice slice) {
                content.writeBytes(ByteBufUtil.getBytes(slice.content()));
                boolean last = slice.last();
                slice.release();
                if (last) {
                    out.add(HexFormat.of().formatHex(content.toByteArray()));
                    content.reset();
                }
            } else {
                out.add(msg);
            }
        }
        return out;
    }

    @Test
    void decodesADownloadPieceFromItsWireBytes() {
        EmbeddedChannel ch = server();
        ch.writeInbound(Unpooled.wrappedBuffer(hex(DOWNLOAD_PIECE)));
        assertThat(drain(ch)).containsExactly(new VortexFrame.DownloadPiece(0x2a, TASK_ID, 7));
    }

    @Test
    void encodesADownloadPieceToTheSameBytes() {
        assertThat(encode(new VortexFrame.DownloadPiece(0x2a, TASK_ID, 7))).isEqualTo(hex(DOWNLOAD_PIECE));
    }

    @Test
    void decodesPieceContentMetadataThenItsRawBytes() {
        EmbeddedChannel ch = client(4);
        ch.writeInbound(Unpooled.wrappedBuffer(hex(PIECE_CONTENT_HEADER + PIECE_CONTENT_BYTES)));
        assertThat(drain(ch)).containsExactly(PIECE_CONTENT_FRAME, PIECE_CONTENT_BYTES);
        assertThat(stateOf(ch)).isEqualTo(VortexDecoder.State.HEADER);
    }

    @Test
    void encodesPieceContentMetadataWithoutTheBytesInItsLength() {
        assertThat(encode(PIECE_CONTENT_FRAME)).isEqualTo(hex(PIECE_CONTENT_HEADER));
    }

    @Test
    void decodesAndEncodesAnErrorFrame() {
        EmbeddedChannel ch = client(-1);
        ch.writeInbound(Unpooled.wrappedBuffer(hex(ERROR)));
        VortexFrame.ErrorFrame expected = new VortexFrame.ErrorFrame(3, VortexErrorCode.NOT_FOUND.value(), "piece not found");
        assertThat(drain(ch)).containsExactly(expected);
        assertThat(encode(expected)).isEqualTo(hex(ERROR));
    }

    @Test
    void decodesAndEncodesCloseOnEitherSide() {
        for (EmbeddedChannel ch : List.of(server(), client(-1))) {
            ch.writeInbound(Unpooled.wrappedBuffer(hex(CLOSE)));
            assertThat(drain(ch)).containsExactly(new VortexFrame.Close(4));
        }
        assertThat(encode(new VortexFrame.Close(4))).isEqualTo(hex(CLOSE));
    }

    @Test
    void tagValuesAndErrorCodesMatchUpstream() {
        assertThat(Arrays.stream(VortexTag.values()).mapToInt(VortexTag::value)).containsExactly(0, 1, 254, 255);
        // Upstream's 0..3, then Pollen's use of reserved 4 (busy).
        assertThat(Arrays.stream(VortexErrorCode.values()).mapToInt(VortexErrorCode::value)).containsExactly(0, 1, 2, 3, 4);
        assertThat(VortexTag.of(2)).as("upstream's persistent-cache tag is not spoken").isNull();
    }

    @Test
    void aLengthAboveTheMaximumGoesBadAndDiscardsEverythingAfter() {
        EmbeddedChannel ch = server();
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.wrappedBuffer(hex("2a 00 00000045"))))
                .satisfies(t -> assertThat(reasonOf(t)).isEqualTo(Reason.FRAME_TOO_LONG));
        assertThat(stateOf(ch)).isEqualTo(VortexDecoder.State.BAD);
        ch.writeInbound(Unpooled.wrappedBuffer(hex(DOWNLOAD_PIECE)));
        assertThat(drain(ch)).as("nothing after a framing error is trusted").isEmpty();
    }

    @Test
    void lengthsAreReadUnsigned() {
        EmbeddedChannel ch = client(-1);
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.wrappedBuffer(hex("03 ff ffffffff"))))
                .satisfies(t -> assertThat(reasonOf(t)).isEqualTo(Reason.FRAME_TOO_LONG));
    }

    @Test
    void anErrorValueAboveItsMaximumIsRefusedBeforeBuffering() {
        EmbeddedChannel ch = client(-1);
        String length = String.format("%08x", VortexWire.MAX_ERROR_LENGTH + 1);
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.wrappedBuffer(hex("03 ff " + length))))
                .satisfies(t -> assertThat(reasonOf(t)).isEqualTo(Reason.FRAME_TOO_LONG));
    }

    @Test
    void aShortRequestIsMalformed() {
        EmbeddedChannel ch = server();
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.wrappedBuffer(hex("2a 00 0000000a"))))
                .satisfies(t -> assertThat(reasonOf(t)).isEqualTo(Reason.MALFORMED_FRAME));
    }

    @Test
    void anUnknownTagGoesBad() {
        EmbeddedChannel ch = server();
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.wrappedBuffer(hex("2a 07 00000000"))))
                .satisfies(t -> assertThat(reasonOf(t)).isEqualTo(Reason.UNKNOWN_TAG));
        assertThat(stateOf(ch)).isEqualTo(VortexDecoder.State.BAD);
    }

    @Test
    void aResponseTagSentToAServerIsUnknown() {
        EmbeddedChannel ch = server();
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.wrappedBuffer(hex(PIECE_CONTENT_HEADER))))
                .satisfies(t -> assertThat(reasonOf(t)).isEqualTo(Reason.UNKNOWN_TAG));
    }

    @Test
    void contentLongerThanThePieceIsRefusedBeforeAnyByteIsHandedOn() {
        EmbeddedChannel ch = client(3);
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.wrappedBuffer(hex(PIECE_CONTENT_HEADER + PIECE_CONTENT_BYTES))))
                .satisfies(t -> assertThat(reasonOf(t)).isEqualTo(Reason.CONTENT_TOO_LONG));
        assertThat(drain(ch)).isEmpty();
    }

    @Test
    void pieceContentWithNoRequestOutstandingIsRefused() {
        EmbeddedChannel ch = client(-1);
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.wrappedBuffer(hex(PIECE_CONTENT_HEADER))))
                .satisfies(t -> assertThat(reasonOf(t)).isEqualTo(Reason.UNEXPECTED_FRAME));
    }

    @Test
    void aMetadataLengthThatDisagreesWithTheHeaderIsMalformed() {
        EmbeddedChannel ch = client(4);
        String wrong = PIECE_CONTENT_HEADER.replaceFirst("0000003f", "0000003e");
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.wrappedBuffer(hex(wrong))))
                .satisfies(t -> assertThat(reasonOf(t)).isEqualTo(Reason.MALFORMED_FRAME));
    }

    @Test
    void aDigestLengthBeyondTheMetadataIsMalformed() {
        EmbeddedChannel ch = client(4);
        String wrong = PIECE_CONTENT_HEADER.replace("00000010 6372", "00000100 6372");
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.wrappedBuffer(hex(wrong))))
                .satisfies(t -> assertThat(reasonOf(t)).isEqualTo(Reason.MALFORMED_FRAME));
    }

    @Test
    void aParentIdThatIsNotUtf8IsMalformed() {
        EmbeddedChannel ch = client(4);
        String wrong = PIECE_CONTENT_HEADER.replace("00000002 7031", "00000002 c328");
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.wrappedBuffer(hex(wrong))))
                .satisfies(t -> assertThat(reasonOf(t)).isEqualTo(Reason.MALFORMED_FRAME));
    }

    @Test
    void anEmptyPieceYieldsOneEmptyLastSlice() {
        VortexFrame.PieceContent empty = new VortexFrame.PieceContent(9, 0, 0, 0, "crc32:0", "", 1, Duration.ZERO,
                Instant.ofEpochSecond(0));
        EmbeddedChannel ch = client(0);
        ch.writeInbound(Unpooled.wrappedBuffer(encode(empty)));
        assertThat(drain(ch)).containsExactly(empty, "");
    }

    @Test
    void largeContentIsHandedOnInBoundedSlicesNeverWhole() {
        int length = 3 * VortexWire.MAX_CONTENT_SLICE + 17;
        VortexFrame.PieceContent frame = new VortexFrame.PieceContent(1, 0, 0, length, "crc32:0", "", 1, Duration.ZERO,
                Instant.ofEpochSecond(0));
        EmbeddedChannel ch = client(length);
        ByteBuf wire = Unpooled.buffer().writeBytes(encode(frame)).writeZero(length);
        ch.writeInbound(wire);
        assertThat((Object) ch.readInbound()).isEqualTo(frame);
        long total = 0;
        int slices = 0;
        ContentSlice slice;
        while ((slice = ch.readInbound()) != null) {
            assertThat(slice.content().readableBytes()).isLessThanOrEqualTo(VortexWire.MAX_CONTENT_SLICE);
            total += slice.content().readableBytes();
            slices++;
            slice.release();
        }
        assertThat(total).isEqualTo(length);
        assertThat(slices).isEqualTo(4);
    }

    @Test
    void decodesTheSameResponsesWhereverTheInputIsSplit() {
        byte[] wire = hex(PIECE_CONTENT_HEADER + PIECE_CONTENT_BYTES + ERROR + CLOSE);
        List<Object> expected = List.of(PIECE_CONTENT_FRAME, PIECE_CONTENT_BYTES,
                new VortexFrame.ErrorFrame(3, 2, "piece not found"), new VortexFrame.Close(4));
        for (int split = 0; split <= wire.length; split++) {
            EmbeddedChannel ch = client(4);
            ch.writeInbound(Unpooled.wrappedBuffer(Arrays.copyOfRange(wire, 0, split)));
            ch.writeInbound(Unpooled.wrappedBuffer(Arrays.copyOfRange(wire, split, wire.length)));
            assertThat(drain(ch)).as("split at byte %d", split).isEqualTo(expected);
        }
        EmbeddedChannel byteByByte = client(4);
        for (byte b : wire) {
            byteByByte.writeInbound(Unpooled.wrappedBuffer(new byte[] {b}));
        }
        assertThat(drain(byteByByte)).isEqualTo(expected);
    }

    @Test
    void decodesTheSameRequestsWhereverTheInputIsSplit() {
        byte[] wire = hex(DOWNLOAD_PIECE + DOWNLOAD_PIECE + CLOSE);
        List<Object> expected = List.of(new VortexFrame.DownloadPiece(0x2a, TASK_ID, 7),
                new VortexFrame.DownloadPiece(0x2a, TASK_ID, 7), new VortexFrame.Close(4));
        for (int split = 0; split <= wire.length; split++) {
            EmbeddedChannel ch = server();
            ch.writeInbound(Unpooled.wrappedBuffer(Arrays.copyOfRange(wire, 0, split)));
            ch.writeInbound(Unpooled.wrappedBuffer(Arrays.copyOfRange(wire, split, wire.length)));
            assertThat(drain(ch)).as("split at byte %d", split).isEqualTo(expected);
        }
    }

    @Test
    void encodingRefusesATaskIdThatIsNot64Characters() {
        assertThatThrownBy(() -> encode(new VortexFrame.DownloadPiece(1, "abc", 0)))
                .hasRootCauseInstanceOf(IllegalArgumentException.class);
    }
}
