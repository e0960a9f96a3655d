package dev.pollen.agent.peer;

import static dev.pollen.agent.peer.RawVortexParent.crc32;
import static dev.pollen.agent.peer.RawVortexParent.header;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.storage.StoredTask;
import dev.pollen.agent.storage.TaskMetadata;
import dev.pollen.agent.vortex.VortexException;
import dev.pollen.agent.vortex.VortexException.Reason;
import dev.pollen.agent.vortex.VortexFrame;
import dev.pollen.agent.vortex.VortexTransport;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The client against a parent that lies, stalls, hangs up or speaks nonsense: nothing bad is recorded. */
class VortexClientMisbehavingParentTest {
    private static final int PIECE = 64 * 1024;
    private static final long LENGTH = 2L * PIECE + 1000;
    private static final String TASK = "d".repeat(64);
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    java.nio.file.Path dir;

    private final byte[] data = new byte[(int) LENGTH];
    private StoredTask target;
    private VortexClient client;
    private RawVortexParent parent;

    @BeforeEach
    void setUp() throws Exception {
        new Random(7).nextBytes(data);
        target = new Storage(dir).create(TaskMetadata.started(TASK, "http://origin/f", LENGTH, PIECE, true, Map.of(), Instant.EPOCH));
        client = new VortexClient(new VortexClient.Options(VortexTransport.best(), 1, 2, Duration.ofSeconds(30), null));
    }

    @AfterEach
    void tearDown() throws Exception {
        client.close();
        if (parent != null) {
            parent.close();
        }
        target.close();
    }

    private byte[] piece(long number) {
        int offset = (int) (number * PIECE);
        return Arrays.copyOfRange(data, offset, (int) Math.min(LENGTH, offset + PIECE));
    }

    /** Answers as an honest parent does: metadata, then exactly the piece's bytes. */
    private void honest(ChannelHandlerContext ctx, VortexFrame.DownloadPiece request) {
        byte[] bytes = piece(request.number());
        ctx.write(header(request.number(), request.number() * PIECE, bytes.length, crc32(bytes)));
        ctx.writeAndFlush(Unpooled.wrappedBuffer(bytes));
    }

    private VortexException fetchFails(int number, Duration timeout) {
        try {
            client.fetch(parent.address(), target, number, timeout);
        } catch (VortexException e) {
            return e;
        } catch (Exception e) {
            throw new AssertionError("expected a VortexException", e);
        }
        throw new AssertionError("the fetch of piece " + number + " succeeded");
    }

    private byte[] stored(int number) throws Exception {
        byte[] expected = piece(number);
        ByteBuffer buf = ByteBuffer.allocate(expected.length);
        target.content().read(buf, (long) number * PIECE);
        return buf.array();
    }

    @Test
    void corruptedBytesAreDetectedByTheirCrcAndThePieceIsNotRecorded() throws Exception {
        parent = new RawVortexParent((ctx, request) -> {
            byte[] bytes = piece(request.number());
            String digest = crc32(bytes);
            bytes[bytes.length / 2] ^= 0x5a;
            ctx.write(header(request.number(), request.number() * PIECE, bytes.length, digest));
            ctx.writeAndFlush(Unpooled.wrappedBuffer(bytes));
        });
        VortexException e = fetchFails(0, TIMEOUT);
        assertThat(e.reason()).isEqualTo(Reason.DIGEST_MISMATCH);
        assertThat(e.getMessage()).contains("piece 0").contains(crc32(piece(0)));
        assertThat(target.piece(0)).isNull();
    }

    @Test
    void aPieceRefusedForItsDigestIsFetchedWholeFromAnHonestParentAfterwards() throws Exception {
        try (RawVortexParent liar = new RawVortexParent((ctx, request) -> {
            byte[] bytes = piece(request.number());
            ctx.write(header(request.number(), request.number() * PIECE, bytes.length, "crc32:1"));
            ctx.writeAndFlush(Unpooled.wrappedBuffer(bytes));
        })) {
            assertThatThrownBy(() -> client.fetch(liar.address(), target, 1, TIMEOUT))
                    .isInstanceOfSatisfying(VortexException.class, e -> assertThat(e.reason()).isEqualTo(Reason.DIGEST_MISMATCH));
        }
        parent = new RawVortexParent(this::honest);
        PieceRecord record = client.fetch(parent.address(), target, 1, TIMEOUT);
        assertThat(record.digest()).isEqualTo(crc32(piece(1)));
        assertThat(stored(1)).isEqualTo(piece(1));
    }

    @Test
    void contentLongerThanThePieceIsRefusedBeforeAnyByteIsWritten() throws Exception {
        parent = new RawVortexParent((ctx, request) -> {
            byte[] bytes = new byte[PIECE + 1];
            Arrays.fill(bytes, (byte) 0x77);
            ctx.write(header(request.number(), 0, bytes.length, crc32(bytes)));
            ctx.writeAndFlush(Unpooled.wrappedBuffer(bytes));
        });
        VortexException e = fetchFails(0, TIMEOUT);
        assertThat(e.reason()).isEqualTo(Reason.CONTENT_TOO_LONG);
        assertThat(stored(0)).as("nothing reached the file").containsOnly(0);
        assertThat(target.piece(0)).isNull();
    }

    @Test
    void aShortLastPieceMustHaveExactlyItsLength() throws Exception {
        parent = new RawVortexParent((ctx, request) -> {
            byte[] bytes = Arrays.copyOf(piece(2), 999);
            ctx.write(header(2, 2L * PIECE, bytes.length, crc32(bytes)));
            ctx.writeAndFlush(Unpooled.wrappedBuffer(bytes));
        });
        assertThat(fetchFails(2, TIMEOUT).reason()).isEqualTo(Reason.UNEXPECTED_PIECE);
    }

    @Test
    void anotherPieceThanTheOneAskedForIsRefused() throws Exception {
        parent = new RawVortexParent((ctx, request) -> honest(ctx, new VortexFrame.DownloadPiece(0, request.taskId(), 1)));
        VortexException e = fetchFails(0, TIMEOUT);
        assertThat(e.reason()).isEqualTo(Reason.UNEXPECTED_PIECE);
        assertThat(target.piece(0)).isNull();
    }

    @Test
    void aDigestThatIsNotCrc32IsRefused() throws Exception {
        parent = new RawVortexParent((ctx, request) -> {
            byte[] bytes = piece(request.number());
            ctx.write(header(request.number(), 0, bytes.length, "sha256:abc"));
            ctx.writeAndFlush(Unpooled.wrappedBuffer(bytes));
        });
        assertThat(fetchFails(0, TIMEOUT).reason()).isEqualTo(Reason.UNEXPECTED_PIECE);
    }

    @Test
    void aParentThatStallsTimesOutAndLeavesNothingRecorded() throws Exception {
        parent = new RawVortexParent((ctx, request) -> {
            // Announces the piece and then sends nothing.
            ctx.writeAndFlush(header(request.number(), 0, PIECE, crc32(piece(0))));
        });
        long start = System.nanoTime();
        VortexException e = fetchFails(0, Duration.ofMillis(300));
        assertThat(e.reason()).isEqualTo(Reason.TIMEOUT);
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
        assertThat(target.piece(0)).isNull();
    }

    @Test
    void aParentThatHangsUpMidPieceLosesThePiece() throws Exception {
        parent = new RawVortexParent((ctx, request) -> {
            byte[] bytes = piece(request.number());
            ctx.write(header(request.number(), 0, bytes.length, crc32(bytes)));
            ctx.writeAndFlush(Unpooled.wrappedBuffer(bytes, 0, bytes.length / 2)).addListener(ChannelFutureListener.CLOSE);
        });
        VortexException e = fetchFails(0, TIMEOUT);
        assertThat(e.reason()).isEqualTo(Reason.CONNECTION_CLOSED);
        assertThat(e.getMessage()).contains("of " + PIECE + " piece bytes");
        assertThat(target.piece(0)).isNull();
    }

    @Test
    void anUnknownTagFromTheParentFailsTheFetch() throws Exception {
        parent = new RawVortexParent((ctx, request) ->
                ctx.writeAndFlush(Unpooled.wrappedBuffer(HexFormat.of().parseHex("00070000000000"))));
        assertThat(fetchFails(0, TIMEOUT).reason()).isEqualTo(Reason.UNKNOWN_TAG);
    }

    @Test
    void consecutivePiecesFromOneParentShareOneConnection() throws Exception {
        parent = new RawVortexParent(this::honest);
        for (int n = 0; n < 3; n++) {
            client.fetch(parent.address(), target, n, TIMEOUT);
            assertThat(stored(n)).isEqualTo(piece(n));
        }
        assertThat(parent.requests()).isEqualTo(3);
        assertThat(parent.connections()).isEqualTo(1);
    }

    @Test
    void aParentThatAnswersOneRequestPerConnectionStillServesEveryPiece() throws Exception {
        // Dragonfly's Rust server (dragonfly-client-storage src/server/tcp.rs) closes after each answer.
        parent = new RawVortexParent((ctx, request) -> {
            byte[] bytes = piece(request.number());
            ctx.write(header(request.number(), request.number() * PIECE, bytes.length, crc32(bytes)));
            ctx.writeAndFlush(Unpooled.wrappedBuffer(bytes)).addListener(ChannelFutureListener.CLOSE);
        });
        for (int round = 0; round < 3; round++) {
            for (int n = 0; n < 3; n++) {
                assertThat(client.fetch(parent.address(), target, n, TIMEOUT).digest()).isEqualTo(crc32(piece(n)));
            }
        }
        assertThat(parent.requests()).isEqualTo(9);
    }
}
