package dev.pollen.agent.upload.vortex;

import dev.pollen.agent.vortex.ContentSlice;
import dev.pollen.agent.vortex.VortexCodecTest;
import dev.pollen.agent.vortex.VortexDecoder;
import dev.pollen.agent.vortex.VortexEncoder;
import dev.pollen.agent.vortex.VortexErrorCode;
import dev.pollen.agent.vortex.VortexException;
import dev.pollen.agent.vortex.VortexFrame;
import dev.pollen.agent.vortex.VortexWire;
import static dev.pollen.agent.vortex.VortexCodecTest.TASK_ID;
import static dev.pollen.agent.vortex.VortexCodecTest.hex;
import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.vortex.VortexException.Reason;
import dev.pollen.policy.UploadSlots;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.FileRegion;
import io.netty.channel.embedded.EmbeddedChannel;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The server's answers, over an in-memory channel: what goes out for each request, and when it closes. */
class VortexServerHandlerTest {
    private static final Instant NOW = Instant.parse("2025-01-02T03:04:05.678Z");

    @TempDir
    Path dir;

    private FileChannel content;
    private PieceRecord piece0;
    private final AtomicInteger lookups = new AtomicInteger();
    private final AtomicInteger released = new AtomicInteger();
    private VortexServerStats stats;
    private UploadPieces pieces;
    private EmbeddedChannel ch;

    @BeforeEach
    void setUp() throws Exception {
        content = FileChannel.open(dir.resolve("content"), StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
        byte[] bytes = "0123456789".getBytes(StandardCharsets.US_ASCII);
        content.write(ByteBuffer.wrap(bytes), 0);
        CRC32 crc = new CRC32();
        crc.update(bytes, 0, 4);
        piece0 = new PieceRecord(0, 0, 4, crc.getValue());
        Map<Integer, PieceRecord> recorded = Map.of(0, piece0, 5, new PieceRecord(5, 20, 4, 0));
        pieces = (taskId, number) -> {
            lookups.incrementAndGet();
            if (!taskId.equals(TASK_ID)) {
                throw new VortexException(Reason.TASK_NOT_FOUND, "task " + taskId + " is not stored here");
            }
            PieceRecord p = recorded.get(number);
            if (p == null) {
                throw new VortexException(Reason.PIECE_NOT_FOUND, "piece " + number + " is not stored here");
            }
            return new PieceLease(p, content, released::incrementAndGet);
        };
        stats = new VortexServerStats(new UploadSlots(0), new UploadMeter(System::nanoTime));
        ch = new EmbeddedChannel(new VortexDecoder(VortexDecoder.Side.SERVER), VortexEncoder.INSTANCE,
                new VortexServerHandler(pieces, Runnable::run, Clock.fixed(NOW, ZoneOffset.UTC), stats, new InFlight(), new UploadSlots(0),
                        Duration.ZERO));
    }

    @AfterEach
    void tearDown() throws Exception {
        ch.finishAndReleaseAll();
        content.close();
    }

    private void send(String hexBytes) {
        ch.writeInbound(Unpooled.wrappedBuffer(hex(hexBytes)));
        ch.runPendingTasks();
    }

    private static String request(String taskId, int number) {
        ByteBuf b = Unpooled.buffer();
        VortexEncoder.encode(new VortexFrame.DownloadPiece(1, taskId, number), b);
        String s = io.netty.buffer.ByteBufUtil.hexDump(b);
        b.release();
        return s;
    }

    /**
     * Decodes what the server wrote, as a client would: frames as they are, and each file region both as
     * itself (to check what was sent zero-copy) and as the bytes it stands for, fed to the decoder.
     */
    private List<Object> answers(long expectContent) throws IOException {
        VortexDecoder decoder = new VortexDecoder(VortexDecoder.Side.CLIENT);
        EmbeddedChannel reader = new EmbeddedChannel(decoder);
        List<Object> out = new ArrayList<>();
        Object msg;
        while ((msg = ch.readOutbound()) != null) {
            decoder.expectContent(expectContent);
            if (msg instanceof FileRegion region) {
                out.add(region);
                ByteBuffer bytes = ByteBuffer.allocate((int) region.count());
                content.read(bytes, region.position());
                reader.writeInbound(Unpooled.wrappedBuffer(bytes.flip()));
            } else {
                reader.writeInbound(msg);
            }
            Object decoded;
            while ((decoded = reader.readInbound()) != null) {
                if (decoded instanceof ContentSlice slice) {
                    slice.release();
                } else {
                    out.add(decoded);
                }
            }
        }
        return out;
    }

    private static VortexFrame.ErrorFrame error(Object o) {
        assertThat(o).isInstanceOf(VortexFrame.ErrorFrame.class);
        return (VortexFrame.ErrorFrame) o;
    }

    @Test
    void answersAStoredPieceWithItsMetadataThenAZeroCopyRegionOfTheContentFile() throws Exception {
        send(request(TASK_ID, 0));
        List<Object> out = answers(4);
        assertThat(out).hasSize(2);
        VortexFrame.PieceContent metadata = (VortexFrame.PieceContent) out.get(0);
        assertThat(metadata.number()).isZero();
        assertThat(metadata.offset()).isZero();
        assertThat(metadata.length()).isEqualTo(4);
        assertThat(metadata.digest()).isEqualTo(piece0.digest());
        assertThat(metadata.trafficType()).isEqualTo(VortexWire.TRAFFIC_REMOTE_PEER);
        assertThat(metadata.createdAt()).isEqualTo(Instant.ofEpochSecond(NOW.getEpochSecond()));
        FileRegion region = (FileRegion) out.get(1);
        assertThat(region.position()).isZero();
        assertThat(region.count()).isEqualTo(4);
        region.release();
        assertThat(content.isOpen()).as("the region must not close the task's shared content channel").isTrue();
        assertThat(released).hasValue(1);
        assertThat(stats.piecesServed()).isEqualTo(1);
        assertThat(ch.isActive()).isTrue();
    }

    @Test
    void answersAnUnknownTaskWithNotFoundAndKeepsServing() throws Exception {
        send(request("f".repeat(64), 0));
        VortexFrame.ErrorFrame e = error(answers(4).get(0));
        assertThat(e.code()).isEqualTo(VortexErrorCode.NOT_FOUND.value());
        assertThat(e.message()).contains("not stored");
        assertThat(ch.isActive()).isTrue();

        send(request(TASK_ID, 0));
        assertThat(answers(4)).hasSize(2).first().isInstanceOf(VortexFrame.PieceContent.class);
    }

    @Test
    void answersAPieceNotYetStoredWithNotFound() throws Exception {
        send(request(TASK_ID, 1));
        assertThat(error(answers(4).get(0)).code()).isEqualTo(VortexErrorCode.NOT_FOUND.value());
        assertThat(stats.refusals()).isEqualTo(1);
    }

    @Test
    void answersATaskIdThatCouldNameAPathWithInvalidArgumentWithoutLookingItUp() throws Exception {
        String hostile = ("../../../../etc/passwd" + "/".repeat(64)).substring(0, 64);
        send(request(hostile, 0));
        VortexFrame.ErrorFrame e = error(answers(4).get(0));
        assertThat(e.code()).isEqualTo(VortexErrorCode.INVALID_ARGUMENT.value());
        assertThat(lookups).hasValue(0);
        assertThat(ch.isActive()).isTrue();
    }

    @Test
    void refusesAPieceRecordedBeyondTheEndOfItsFileBeforeSendingAnyHeader() throws Exception {
        send(request(TASK_ID, 5));
        List<Object> out = answers(4);
        assertThat(out).hasSize(1);
        assertThat(error(out.get(0)).code()).isEqualTo(VortexErrorCode.INTERNAL.value());
        assertThat(released).hasValue(1);
    }

    @Test
    void aLengthAboveTheMaximumIsAnsweredWithAnErrorAndClosed() throws Exception {
        send("2a 00 00001000");
        VortexFrame.ErrorFrame e = error(answers(4).get(0));
        assertThat(e.code()).isEqualTo(VortexErrorCode.INVALID_ARGUMENT.value());
        assertThat(ch.isOpen()).isFalse();
        assertThat(stats.protocolViolations()).isEqualTo(1);
    }

    @Test
    void anUnknownTagClosesTheConnection() throws Exception {
        send("2a 09 00000000");
        assertThat(error(answers(4).get(0)).code()).isEqualTo(VortexErrorCode.INVALID_ARGUMENT.value());
        assertThat(ch.isOpen()).isFalse();
    }

    @Test
    void aCloseFrameClosesTheConnection() {
        send(VortexCodecTest.CLOSE);
        assertThat(ch.isOpen()).isFalse();
    }

    @Test
    void answersPipelinedRequestsInOrder() throws Exception {
        send(request(TASK_ID, 1) + request(TASK_ID, 0) + request("e".repeat(64), 0));
        List<Object> out = answers(4);
        assertThat(out).hasSize(4);
        assertThat(error(out.get(0)).message()).contains("piece 1");
        assertThat(out.get(1)).isInstanceOf(VortexFrame.PieceContent.class);
        ((FileRegion) out.get(2)).release();
        assertThat(error(out.get(3)).message()).contains("task eeee");
        assertThat(ch.config().isAutoRead()).as("reading resumes once every request is answered").isTrue();
    }

    @Test
    void tooManyRequestsAheadOfTheirAnswersCloseTheConnection() throws Exception {
        // Lookups that never come back keep the first request busy, so the rest queue up behind it.
        ch.finishAndReleaseAll();
        ch = new EmbeddedChannel(new VortexDecoder(VortexDecoder.Side.SERVER), VortexEncoder.INSTANCE,
                new VortexServerHandler((t, n) -> null, task -> { }, Clock.systemUTC(), stats, new InFlight(), new UploadSlots(0),
                        Duration.ZERO));
        StringBuilder requests = new StringBuilder();
        for (int i = 0; i < VortexServerHandler.MAX_QUEUED + 2; i++) {
            requests.append(request(TASK_ID, i));
        }
        send(requests.toString());
        assertThat(error(answers(4).get(0)).message()).contains("ahead of their answers");
        assertThat(ch.isOpen()).isFalse();
    }

    /** A fresh connection to a server with {@code slots}, whose other uploads the test plays itself. */
    private void connect(UploadSlots slots, Duration slotWait) {
        ch.finishAndReleaseAll();
        stats = new VortexServerStats(slots, new UploadMeter(System::nanoTime));
        ch = new EmbeddedChannel(new VortexDecoder(VortexDecoder.Side.SERVER), VortexEncoder.INSTANCE,
                new VortexServerHandler(pieces, Runnable::run, Clock.fixed(NOW, ZoneOffset.UTC), stats, new InFlight(), slots,
                        slotWait));
        ch.freezeTime();
    }

    private void advance(Duration d) {
        ch.advanceTimeBy(d.toNanos(), java.util.concurrent.TimeUnit.NANOSECONDS);
        ch.runScheduledPendingTasks();
        ch.runPendingTasks();
    }

    @Test
    void aRequestThatGetsNoSlotWithinTheSlotWaitIsAnsweredBusyAndTheConnectionStaysUsable() throws Exception {
        UploadSlots slots = new UploadSlots(1);
        slots.acquire(new UploadSlots.Request("another child", () -> { }));
        connect(slots, Duration.ofMillis(200));

        send(request(TASK_ID, 0));
        advance(Duration.ofMillis(199));
        assertThat(answers(4)).as("still waiting for the slot").isEmpty();
        assertThat(lookups).hasValue(0);

        advance(Duration.ofMillis(1));
        VortexFrame.ErrorFrame busy = error(answers(4).get(0));
        assertThat(busy.code()).isEqualTo(VortexErrorCode.BUSY.value()).isEqualTo(4);
        assertThat(busy.message()).startsWith("busy");
        assertThat(lookups).as("a busy answer costs no lookup").hasValue(0);
        assertThat(stats.busyAnswers()).isEqualTo(1);
        assertThat(slots.waiting()).isZero();
        assertThat(ch.isActive()).isTrue();

        slots.release("another child");
        send(request(TASK_ID, 0));
        assertThat(answers(4)).hasSize(2).first().isInstanceOf(VortexFrame.PieceContent.class);
        assertThat(slots.inUse()).as("the slot is given back once the piece is sent").isZero();
    }

    @Test
    void aSlotThatFreesWithinTheSlotWaitServesTheWaitingRequest() throws Exception {
        UploadSlots slots = new UploadSlots(1);
        slots.acquire(new UploadSlots.Request("another child", () -> { }));
        connect(slots, Duration.ofMillis(200));

        send(request(TASK_ID, 0));
        advance(Duration.ofMillis(150));
        slots.release("another child");
        advance(Duration.ZERO);
        assertThat(answers(4)).hasSize(2).first().isInstanceOf(VortexFrame.PieceContent.class);

        advance(Duration.ofSeconds(1));
        assertThat(answers(4)).as("no late busy answer after the piece").isEmpty();
        assertThat(stats.busyAnswers()).isZero();
        assertThat(slots.inUse()).isZero();
    }

    @Test
    void aRequestFindingTheLineFullIsAnsweredBusyAtOnce() throws Exception {
        UploadSlots slots = new UploadSlots(1);
        for (int i = 0; i <= UploadSlots.WAITING_PER_SLOT; i++) {
            slots.acquire(new UploadSlots.Request("child " + i, () -> { }));
        }
        connect(slots, Duration.ofSeconds(5));

        send(request(TASK_ID, 0));
        assertThat(error(answers(4).get(0)).code()).isEqualTo(VortexErrorCode.BUSY.value());
        assertThat(ch.isActive()).isTrue();
    }

    @Test
    void aWaitingRequestForAPieceSentBeforeIsAnsweredBusyAtOnceWhenARequestForAnUnsentPieceNeedsItsPlace() throws Exception {
        UploadSlots slots = new UploadSlots(1);
        slots.acquire(new UploadSlots.Request("another child", TASK_ID, 0, () -> { }, () -> { }));
        for (int i = 1; i < UploadSlots.WAITING_PER_SLOT; i++) {
            slots.acquire(new UploadSlots.Request("child " + i, TASK_ID, i, () -> { }, () -> { }));
        }
        connect(slots, Duration.ofSeconds(5));

        send(request(TASK_ID, 0));
        assertThat(answers(4)).as("in line: piece 0 went out once already").isEmpty();

        List<String> newcomer = new ArrayList<>();
        assertThat(slots.acquire(new UploadSlots.Request("newcomer", TASK_ID, 9, () -> newcomer.add("granted"),
                () -> newcomer.add("turned away")))).isEqualTo(UploadSlots.Admission.WAITING);
        ch.runPendingTasks();
        VortexFrame.ErrorFrame busy = error(answers(4).get(0));
        assertThat(busy.code()).isEqualTo(VortexErrorCode.BUSY.value());
        assertThat(stats.busyAnswers()).isEqualTo(1);
        assertThat(newcomer).isEmpty();
        assertThat(slots.waiting()).isEqualTo(UploadSlots.WAITING_PER_SLOT);

        advance(Duration.ofSeconds(5));
        assertThat(answers(4)).as("no second answer when the slot wait ends").isEmpty();
        assertThat(ch.isActive()).isTrue();
    }
}
