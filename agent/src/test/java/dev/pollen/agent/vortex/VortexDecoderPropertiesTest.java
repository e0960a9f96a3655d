package dev.pollen.agent.vortex;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.AbstractByteBufAllocator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledDirectByteBuf;
import io.netty.buffer.UnpooledHeapByteBuf;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import io.netty.util.ReferenceCountUtil;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

/**
 * Hostile input for the Vortex decoder: whatever bytes a peer sends, in whatever pieces, the decoder
 * yields frames and content slices or fails once with its own protocol error, never buffers more than
 * a frame's bound, and after a failure drops the rest quietly.
 */
class VortexDecoderPropertiesTest {
    private static final int MAX_CHUNK = 1024;
    /** The largest value the decoder waits for whole (an Error frame), its header and one chunk, doubled by the cumulator. */
    private static final int BUFFER_BOUND = 2 * (VortexWire.HEADER_SIZE + VortexWire.MAX_ERROR_LENGTH + MAX_CHUNK);

    @Property
    void arbitraryBytesYieldFramesOrOneProtocolError(@ForAll("chunks") List<byte[]> chunks, @ForAll boolean server,
                                                      @ForAll @IntRange(min = -1, max = 1 << 20) int expectContent) {
        feed(decoder(server, expectContent), chunks);
    }

    /** Structured frames whose length fields lie: the header, the metadata, the digest and parent id lengths. */
    @Property
    void framesWithLyingLengthsYieldFramesOrOneProtocolError(@ForAll("lyingFrames") byte[] frames, @ForAll("cuts") List<Integer> cuts,
                                                             @ForAll @IntRange(min = -1, max = 1 << 20) int expectContent) {
        feed(decoder(false, expectContent), split(frames, cuts));
    }

    /** A declared length beyond the tag's bound fails on the six header bytes alone: nothing is waited for or allocated. */
    @Property
    void aTooLongDeclaredLengthIsRejectedAtTheHeader(@ForAll("knownTags") int tag, @ForAll("hugeLengths") long length) {
        boolean server = tag == VortexTag.DOWNLOAD_PIECE.value();
        ByteBuf header = Unpooled.buffer(VortexWire.HEADER_SIZE).writeByte(7).writeByte(tag).writeInt((int) length);
        Fed fed = feed(decoder(server, 1 << 20), List.of(ByteBufUtil.getBytes(header)));
        assertThat(fed.failure()).as("declared %d for tag %d", length, tag).isNotNull();
        assertThat(fed.failure().reason()).isEqualTo(VortexException.Reason.FRAME_TOO_LONG);
    }

    /** What the encoder writes, the decoder reads back, however the bytes are cut. */
    @Property
    void encodedPieceContentDecodesBackInAnyCuts(@ForAll("pieceContents") VortexFrame.PieceContent frame,
                                                 @ForAll("cuts") List<Integer> cuts) {
        EmbeddedChannel encoder = new EmbeddedChannel(VortexEncoder.INSTANCE);
        encoder.writeOutbound(frame);
        ByteBuf encoded = encoder.readOutbound();
        byte[] bytes;
        try {
            bytes = ByteBufUtil.getBytes(encoded);
        } finally {
            encoded.release();
        }
        byte[] content = new byte[(int) frame.length()];
        byte[] wire = ByteBuffer.allocate(bytes.length + content.length).put(bytes).put(content).array();

        Fed fed = feed(decoder(false, (int) frame.length()), split(wire, cuts));

        assertThat(fed.failure()).isNull();
        assertThat(fed.frames()).containsExactly(frame);
        assertThat(fed.contentBytes()).isEqualTo(frame.length());
    }

    record Fed(List<VortexFrame> frames, long contentBytes, VortexException failure) {
    }

    private static Tracked decoder(boolean server, int expectContent) {
        VortexDecoder decoder = new VortexDecoder(server ? VortexDecoder.Side.SERVER : VortexDecoder.Side.CLIENT);
        if (!server && expectContent >= 0) {
            decoder.expectContent(expectContent);
        }
        TrackingAllocator alloc = new TrackingAllocator();
        EmbeddedChannel ch = new EmbeddedChannel();
        ch.config().setAllocator(alloc);
        ch.pipeline().addLast(decoder);
        return new Tracked(ch, decoder, alloc);
    }

    record Tracked(EmbeddedChannel channel, VortexDecoder decoder, TrackingAllocator alloc) {
    }

    private static Fed feed(Tracked t, List<byte[]> chunks) {
        List<VortexFrame> frames = new ArrayList<>();
        long content = 0;
        VortexException failure = null;
        for (byte[] chunk : chunks) {
            try {
                t.channel().writeInbound(Unpooled.wrappedBuffer(chunk));
            } catch (DecoderException e) {
                assertThat(e.getCause()).as("only the decoder's own protocol error escapes").isInstanceOf(VortexException.class);
                assertThat(failure).as("a failed decoder stays quiet: the second error %s", e.getCause()).isNull();
                failure = (VortexException) e.getCause();
            }
            for (Object o; (o = t.channel().readInbound()) != null; ) {
                try {
                    assertThat(failure == null || o instanceof ContentSlice || o instanceof VortexFrame).isTrue();
                    if (o instanceof ContentSlice slice) {
                        content += slice.content().readableBytes();
                    } else {
                        assertThat(o).isInstanceOf(VortexFrame.class);
                        frames.add((VortexFrame) o);
                    }
                } finally {
                    ReferenceCountUtil.release(o);
                }
            }
            assertThat(t.alloc().largest()).as("buffer held by the decoder").isLessThanOrEqualTo(BUFFER_BOUND);
        }
        if (failure != null) {
            assertThat(t.decoder().state()).isEqualTo(VortexDecoder.State.BAD);
        }
        t.channel().finishAndReleaseAll();
        return new Fed(frames, content, failure);
    }

    /** Every buffer the channel's allocator hands out, so their capacities can be checked. */
    static final class TrackingAllocator extends AbstractByteBufAllocator {
        private final List<ByteBuf> made = new ArrayList<>();

        TrackingAllocator() {
            super(false);
        }

        @Override
        protected ByteBuf newHeapBuffer(int initialCapacity, int maxCapacity) {
            return track(new UnpooledHeapByteBuf(this, initialCapacity, maxCapacity));
        }

        @Override
        protected ByteBuf newDirectBuffer(int initialCapacity, int maxCapacity) {
            return track(new UnpooledDirectByteBuf(this, initialCapacity, maxCapacity));
        }

        @Override
        public boolean isDirectBufferPooled() {
            return false;
        }

        private ByteBuf track(ByteBuf b) {
            made.add(b);
            return b;
        }

        int largest() {
            // capacity() of a released buffer is still its last size: buffers that grew in place count too.
            return made.stream().mapToInt(ByteBuf::capacity).max().orElse(0);
        }
    }

    private static List<byte[]> split(byte[] bytes, List<Integer> cuts) {
        List<byte[]> chunks = new ArrayList<>();
        int pos = 0;
        for (int cut : cuts) {
            int n = Math.min(cut, bytes.length - pos);
            chunks.add(java.util.Arrays.copyOfRange(bytes, pos, pos + n));
            pos += n;
        }
        chunks.add(java.util.Arrays.copyOfRange(bytes, pos, bytes.length));
        return chunks;
    }

    @Provide
    Arbitrary<List<byte[]>> chunks() {
        // Noise drawn straight from the random source: cheap at this size, and shrinking noise tells nothing.
        Arbitrary<byte[]> random = Arbitraries.randomValue(r -> {
            byte[] b = new byte[r.nextInt(MAX_CHUNK + 1)];
            r.nextBytes(b);
            return b;
        });
        // Bytes that start like real headers make the decoder go deeper than pure noise would.
        Arbitrary<byte[]> headerish = Combinators.combine(Arbitraries.bytes(), tags(), Arbitraries.longs().between(0, 0xFFFF_FFFFL))
                .as((id, tag, length) -> ByteBuffer.allocate(6).put(id).put((byte) (int) tag).putInt((int) (long) length).array());
        return Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(3, random), net.jqwik.api.Tuple.of(2, headerish)).list().ofMaxSize(8);
    }

    @Provide
    Arbitrary<Integer> tags() {
        return Arbitraries.oneOf(Arbitraries.of(0, 1, 254, 255), Arbitraries.integers().between(0, 255));
    }

    @Provide
    Arbitrary<Integer> knownTags() {
        return Arbitraries.of(0, 1, 254, 255);
    }

    @Provide
    Arbitrary<Long> hugeLengths() {
        return Arbitraries.longs().between(VortexWire.MAX_ERROR_LENGTH + 1L, 0xFFFF_FFFFL);
    }

    @Provide
    Arbitrary<List<Integer>> cuts() {
        return Arbitraries.integers().between(0, 600).list().ofMaxSize(12);
    }

    /** A client's view of one or more responses whose every length field may lie. */
    @Provide
    Arbitrary<byte[]> lyingFrames() {
        Arbitrary<byte[]> pieceContent = Combinators.combine(
                        Arbitraries.longs().between(0, 0xFFFF_FFFFL).injectNull(0.5), // header length: null = honest
                        Arbitraries.longs().between(0, 0xFFFF_FFFFL).injectNull(0.5), // metadata length
                        Arbitraries.longs().between(0, 0xFFFF_FFFFL).injectNull(0.5), // digest length
                        Arbitraries.longs().between(0, 0xFFFF_FFFFL).injectNull(0.5), // parent id length
                        Arbitraries.longs(), // piece length
                        Arbitraries.strings().ofMaxLength(40), // digest text
                        Arbitraries.bytes().array(byte[].class).ofMaxSize(64), // content that follows
                        Arbitraries.longs()) // cost and created_at
                .as(VortexDecoderPropertiesTest::pieceContentBytes);
        Arbitrary<byte[]> error = Combinators.combine(Arbitraries.longs().between(0, 0xFFFF_FFFFL).injectNull(0.5),
                        Arbitraries.bytes().array(byte[].class).ofMaxSize(64))
                .as((lie, message) -> {
                    ByteBuffer b = ByteBuffer.allocate(6 + 1 + message.length);
                    b.put((byte) 3).put((byte) 255).putInt((int) (lie == null ? 1 + message.length : lie)).put((byte) 2).put(message);
                    return b.array();
                });
        Arbitrary<byte[]> close = Arbitraries.just(new byte[] {4, (byte) 254, 0, 0, 0, 0});
        return Arbitraries.oneOf(pieceContent, error, close).list().ofMaxSize(4).map(frames -> {
            int total = frames.stream().mapToInt(f -> f.length).sum();
            ByteBuffer all = ByteBuffer.allocate(total);
            frames.forEach(all::put);
            return all.array();
        });
    }

    private static byte[] pieceContentBytes(Long headerLength, Long metadataLength, Long digestLength, Long parentLength,
                                            long pieceLength, String digest, byte[] content, long time) {
        byte[] d = digest.getBytes(StandardCharsets.UTF_8);
        byte[] p = "peer-1".getBytes(StandardCharsets.UTF_8);
        int metadata = VortexWire.METADATA_FIXED_SIZE + d.length + p.length;
        ByteBuffer b = ByteBuffer.allocate(6 + 4 + metadata + content.length);
        b.put((byte) 1).put((byte) 1).putInt((int) (headerLength == null ? 4 + metadata : headerLength));
        b.putInt((int) (metadataLength == null ? metadata : metadataLength));
        b.putInt(3).putLong(0).putLong(pieceLength);
        b.putInt((int) (digestLength == null ? d.length : digestLength)).put(d);
        b.putInt((int) (parentLength == null ? p.length : parentLength)).put(p);
        b.put((byte) 1).putLong(time).putLong(time);
        b.put(content);
        return b.array();
    }

    /** Strings that survive UTF-8 both ways (no lone surrogates), as any peer's digest and id do. */
    private static Arbitrary<String> utf8Strings() {
        return Arbitraries.strings().ofMaxLength(100)
                .filter(s -> s.equals(new String(s.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8)));
    }

    @Provide
    Arbitrary<VortexFrame.PieceContent> pieceContents() {
        return Combinators.combine(
                        Arbitraries.integers().between(0, 255),
                        Arbitraries.longs().between(0, 0xFFFF_FFFFL),
                        Arbitraries.longs().between(0, Long.MAX_VALUE),
                        Arbitraries.longs().between(0, 2048),
                        utf8Strings(),
                        utf8Strings(),
                        Arbitraries.integers().between(0, 255),
                        Arbitraries.longs().between(-31_557_014_167_219_200L, 31_556_889_864_403_199L))
                .as((id, number, offset, length, digest, parent, traffic, created) -> new VortexFrame.PieceContent(id, number, offset,
                        length, digest, parent, traffic, Duration.ofSeconds(Math.abs(created % 1_000_000)), Instant.ofEpochSecond(created)));
    }
}
