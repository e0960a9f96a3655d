package dev.pollen.agent.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.pollen.agent.error.GrpcErrors;
import dev.pollen.agent.metrics.AgentMetrics;
import dev.pollen.agent.origin.Backoff;
import dev.pollen.agent.origin.OriginClient;
import dev.pollen.agent.origin.TestOrigin;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.task.BlobReadCheck;
import dev.pollen.agent.task.Downloader;
import dev.pollen.agent.task.TaskManager;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.proto.common.v2.Range;
import dev.pollen.proto.common.v2.TrafficType;
import dev.pollen.proto.dfdaemon.v2.DfdaemonDownloadGrpc;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskRequest;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskResponse;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The local API called as Dragonfly's dfget calls it, written from dragonflyoss/client @ff17c0b7
 * {@code dragonfly-client/src/bin/dfget/main.rs} ({@code download}: the started message's pieces become the set
 * that must arrive, {@code --transfer-from-dfdaemon} sends {@code need_piece_content} without an output path and
 * writes each piece's {@code content} at its offset; {@code main}: errors parsed as Backend JSON) and
 * {@code dragonfly-client/src/grpc/dfdaemon_download.rs} (its client lifts the message size limit:
 * {@code max_decoding_message_size(usize::MAX)}).
 */
class DragonflyDfgetClientTest {
    private static final int MIB = 1 << 20;
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private TestOrigin origin;
    private ExecutorService executor;
    private TaskManager tasks;
    private Server server;
    private ManagedChannel channel;
    private DfdaemonDownloadGrpc.DfdaemonDownloadBlockingStub dfget;

    @BeforeEach
    void setUp() throws Exception {
        origin = new TestOrigin();
        executor = Executors.newVirtualThreadPerTaskExecutor();
        Storage storage = new Storage(dir.resolve("store"));
        OriginClient client = new OriginClient(2, new Backoff(Duration.ofMillis(10)), Duration.ofSeconds(2), Duration.ofSeconds(5));
        tasks = new TaskManager(storage, client, executor, 4, Clock.systemUTC(), null, AgentMetrics.none());
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(new DfdaemonDownloadService("host", new Downloader(tasks), tasks, storage, BlobReadCheck.OFF))
                .executor(executor).build().start();
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext()
                .maxInboundMessageSize(Integer.MAX_VALUE).build();
        dfget = DfdaemonDownloadGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    @AfterEach
    void tearDown() throws Exception {
        channel.shutdownNow();
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        tasks.close();
        executor.shutdownNow();
        origin.close();
    }

    /** What dfget keeps of one call: the started message, the pieces in order of arrival, the file it wrote. */
    private record Transfer(DownloadTaskResponse started, List<Piece> pieces, byte[] file) {
    }

    /** dfget's loop: Started sets the length and the pieces that must come; each piece's content is written at its offset. */
    private Transfer run(Download download) {
        DownloadTaskResponse started = null;
        Set<Long> remaining = new HashSet<>();
        List<Piece> pieces = new ArrayList<>();
        byte[] file = null;
        for (var it = dfget.downloadTask(DownloadTaskRequest.newBuilder().setDownload(download).build()); it.hasNext(); ) {
            DownloadTaskResponse r = it.next();
            if (r.hasDownloadTaskStartedResponse()) {
                started = r;
                file = new byte[(int) r.getDownloadTaskStartedResponse().getContentLength()];
                r.getDownloadTaskStartedResponse().getPiecesList().forEach(p -> remaining.add((long) p.getNumber()));
            } else {
                Piece p = r.getDownloadPieceFinishedResponse().getPiece();
                pieces.add(p);
                remaining.remove((long) p.getNumber());
                if (p.hasContent()) {
                    p.getContent().copyTo(file, (int) p.getOffset());
                }
            }
        }
        assertThat(started).as("a started message").isNotNull();
        assertThat(remaining).as("pieces listed in Started that never arrived (dfget: download incomplete)").isEmpty();
        return new Transfer(started, pieces, file);
    }

    private static byte[] body(int length) {
        byte[] body = new byte[length];
        new Random(7).nextBytes(body);
        return body;
    }

    @Test
    void transferFromDfdaemonGetsEveryPiecesBytes() {
        byte[] body = body(9 * MIB + 123);
        origin.serve("/f", body);

        Transfer t = run(Download.newBuilder().setUrl(origin.url("/f")).setNeedPieceContent(true).build());

        assertThat(t.pieces()).hasSize(3);
        assertThat(t.pieces()).allSatisfy(p -> assertThat((long) p.getContent().size()).isEqualTo(p.getLength()));
        assertThat(Arrays.equals(t.file(), body)).as("the file dfget wrote equals the origin's").isTrue();

        // Served from the store the second time: the content still comes along.
        Transfer again = run(Download.newBuilder().setUrl(origin.url("/f")).setNeedPieceContent(true).build());
        assertThat(again.pieces()).extracting(Piece::getTrafficType).containsOnly(TrafficType.LOCAL_PEER);
        assertThat(Arrays.equals(again.file(), body)).isTrue();
    }

    @Test
    void withoutNeedPieceContentPiecesComeWithoutBytes() {
        origin.serve("/f", body(5 * MIB));

        Transfer t = run(Download.newBuilder().setUrl(origin.url("/f")).setOutputPath(dir.resolve("out").toString()).build());

        assertThat(t.pieces()).isNotEmpty().allSatisfy(p -> assertThat(p.hasContent()).isFalse());
    }

    @Test
    void startedListsExactlyThePiecesTheCallReports() {
        byte[] body = body(9 * MIB + 5);
        origin.serve("/f", body);

        Transfer whole = run(Download.newBuilder().setUrl(origin.url("/f")).setNeedPieceContent(true).build());
        var started = whole.started().getDownloadTaskStartedResponse();
        assertThat(started.getContentLength()).isEqualTo(body.length);
        assertThat(started.getPiecesList()).extracting(Piece::getNumber, Piece::getOffset, Piece::getLength)
                .containsExactly(org.assertj.core.groups.Tuple.tuple(0, 0L, 4L * MIB),
                        org.assertj.core.groups.Tuple.tuple(1, 4L * MIB, 4L * MIB),
                        org.assertj.core.groups.Tuple.tuple(2, 8L * MIB, (long) MIB + 5));
        assertThat(started.getPiecesList()).allSatisfy(p -> assertThat(p.getDigest()).isEmpty());
        assertThat(whole.pieces()).extracting(Piece::getNumber).containsExactlyInAnyOrder(0, 1, 2);

        // A range that starts in piece 1 and ends in piece 2: those two, and no others.
        Transfer ranged = run(Download.newBuilder().setUrl(origin.url("/f"))
                .setRange(Range.newBuilder().setStart(5L * MIB).setLength(4L * MIB)).build());
        assertThat(ranged.started().getDownloadTaskStartedResponse().getPiecesList()).extracting(Piece::getNumber)
                .containsExactly(1, 2);
        assertThat(ranged.pieces()).extracting(Piece::getNumber).containsExactlyInAnyOrder(1, 2);
    }

    @Test
    void piecesCarryDigestCostAndCreationTimeAndNoParentFromTheOrigin() {
        byte[] body = body(3 * MIB);
        origin.serve("/f", body);

        Transfer t = run(Download.newBuilder().setUrl(origin.url("/f")).setNeedPieceContent(true).build());

        Piece p = t.pieces().getFirst();
        CRC32 crc = new CRC32();
        crc.update(body);
        assertThat(p.getDigest()).isEqualTo("crc32:" + crc.getValue());
        assertThat(p.getTrafficType()).isEqualTo(TrafficType.BACK_TO_SOURCE);
        assertThat(p.hasParentId()).isFalse();
        assertThat(p.hasCreatedAt()).isTrue();
        assertThat(p.getCreatedAt().getSeconds()).isPositive();
        assertThat(p.hasCost()).isTrue();
    }

    @Test
    void anOriginStatusFailsTheCallBeforeAnyMessageWithBackendJson() throws Exception {
        origin.status("/missing", 404);
        List<DownloadTaskResponse> received = new ArrayList<>();

        assertThatThrownBy(() -> dfget.downloadTask(DownloadTaskRequest.newBuilder().setDownload(Download.newBuilder()
                        .setUrl(origin.url("/missing")).setOutputPath(dir.resolve("out").toString())).build())
                .forEachRemaining(received::add))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
                    assertThat(e.getTrailers().get(GrpcErrors.ERROR_CODE)).isEqualTo("ORIGIN_NOT_FOUND");
                    byte[] details = e.getTrailers().get(GrpcErrors.DETAILS);
                    assertThat(details).isNotNull();
                    try {
                        JsonNode backend = JSON.readTree(details);
                        assertThat(backend.get("status_code").asInt()).isEqualTo(404);
                        assertThat(backend.get("message").asText()).contains("404");
                        assertThat(backend.get("header").isObject()).isTrue();
                    } catch (java.io.IOException io) {
                        throw new AssertionError(io);
                    }
                });
        // No stream before the error: dfget never reaches its remove-the-output path.
        assertThat(received).isEmpty();
    }

    @Test
    void otherErrorsCarryNoDetails() {
        origin.serve("/f", body(MIB));

        assertThatThrownBy(() -> dfget.downloadTask(DownloadTaskRequest.newBuilder().setDownload(Download.newBuilder()
                        .setUrl(origin.url("/f")).setPieceLength(1)).build()).forEachRemaining(r -> { }))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                    assertThat(e.getTrailers().containsKey(GrpcErrors.DETAILS)).isFalse();
                });
    }
}
