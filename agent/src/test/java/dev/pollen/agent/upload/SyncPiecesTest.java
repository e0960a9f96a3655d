package dev.pollen.agent.upload;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.agent.metrics.AgentMetrics;
import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.storage.StoredTask;
import dev.pollen.agent.storage.TaskMetadata;
import dev.pollen.agent.task.TaskManager;
import dev.pollen.policy.SuperSeeding;
import dev.pollen.proto.dfdaemon.v2.DfdaemonUploadGrpc;
import dev.pollen.proto.dfdaemon.v2.SyncPiecesRequest;
import dev.pollen.proto.dfdaemon.v2.SyncPiecesResponse;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SyncPieces over a real gRPC server, against a stored task of three pieces of which only piece 0 is
 * here: bad requests are refused, and however a stream ends (done, cancelled, too old, the child gone
 * silent) the task's lease is returned.
 */
class SyncPiecesTest {
    private static final String TASK = "a".repeat(64);
    private static final int PIECE = 1024;

    @TempDir
    Path dir;

    private ExecutorService executor;
    private ScheduledExecutorService timer;
    private TaskManager tasks;
    private final List<AutoCloseable> closing = new ArrayList<>();

    @BeforeEach
    void setUp() throws Exception {
        Storage storage = new Storage(dir);
        try (StoredTask task = storage.create(TaskMetadata.started(TASK, "http://origin.example/blob", 3L * PIECE, PIECE,
                true, Map.of(), Instant.now()))) {
            byte[] piece = new byte[PIECE];
            piece[0] = 1;
            task.content().write(ByteBuffer.wrap(piece), 0);
            CRC32 crc = new CRC32();
            crc.update(piece);
            task.recordPiece(new PieceRecord(0, 0, PIECE, crc.getValue()));
        }
        executor = Executors.newVirtualThreadPerTaskExecutor();
        timer = Executors.newSingleThreadScheduledExecutor();
        tasks = new TaskManager(storage, null, executor, 4, Clock.systemUTC(), null, AgentMetrics.none());
    }

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : closing.reversed()) {
            c.close();
        }
        tasks.close();
        timer.shutdownNow();
        executor.close();
    }

    /** An upload server whose SyncPieces streams last at most {@code maxAge}; the port to reach it at. */
    private int server(Duration maxAge, UploadGrpcServer.KeepAlive keepAlive) throws Exception {
        DfdaemonUploadService service = new DfdaemonUploadService(tasks, null, null, "127.0.0.1", 4005, null, timer,
                Duration.ofSeconds(5), maxAge, SuperSeeding.OFF);
        UploadGrpcServer server = UploadGrpcServer.start(new InetSocketAddress("127.0.0.1", 0), service,
                new DownloadTaskGuard(true, false, new SchedulerAllowList(List.of(), List.of(), host -> {
                    throw new java.net.UnknownHostException(host);
                })), executor, 1, keepAlive, null);
        closing.add(server);
        return server.port();
    }

    private DfdaemonUploadGrpc.DfdaemonUploadStub client(int port) {
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        closing.add(channel::shutdownNow);
        return DfdaemonUploadGrpc.newStub(channel);
    }

    /** What one stream delivered and how it ended. */
    private static final class Stream implements StreamObserver<SyncPiecesResponse> {
        final List<Integer> pieces = new CopyOnWriteArrayList<>();
        final CompletableFuture<Status> end = new CompletableFuture<>();

        @Override
        public void onNext(SyncPiecesResponse r) {
            pieces.add(r.getNumber());
        }

        @Override
        public void onError(Throwable t) {
            end.complete(Status.fromThrowable(t));
        }

        @Override
        public void onCompleted() {
            end.complete(Status.OK);
        }
    }

    private static Stream sync(DfdaemonUploadGrpc.DfdaemonUploadStub stub, Integer... numbers) {
        Stream stream = new Stream();
        stub.syncPieces(SyncPiecesRequest.newBuilder().setHostId("child").setTaskId(TASK)
                .addAllInterestedPieceNumbers(List.of(numbers)).build(), stream);
        return stream;
    }

    private Status ended(Stream stream) {
        return await().atMost(Duration.ofSeconds(20)).until(() -> stream.end.getNow(null), s -> s != null);
    }

    private void awaitLeaseReturned() {
        await().atMost(Duration.ofSeconds(20)).until(() -> !tasks.isActive(TASK));
    }

    @Test
    void refusesPieceNumbersOutOfTheTasksRange() throws Exception {
        var stub = client(server(Duration.ofHours(1), UploadGrpcServer.KeepAlive.DEFAULT));

        Status status = ended(sync(stub, 0, 3));
        assertThat(status.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(status.getDescription()).contains("piece 3", "0..2", "3 pieces");

        // uint32 on the wire: 2^32-1 must not pass as -1.
        Status huge = ended(sync(stub, -1));
        assertThat(huge.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(huge.getDescription()).contains("4294967295");
        awaitLeaseReturned();
    }

    @Test
    void refusesAListLongerThanTheTask() throws Exception {
        var stub = client(server(Duration.ofHours(1), UploadGrpcServer.KeepAlive.DEFAULT));

        Status status = ended(sync(stub, 0, 1, 2, 0));

        assertThat(status.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(status.getDescription()).contains("4 pieces", "at most 3");
        awaitLeaseReturned();
    }

    @Test
    void endsOnceEveryWantedPieceIsAnnounced() throws Exception {
        Stream stream = sync(client(server(Duration.ofHours(1), UploadGrpcServer.KeepAlive.DEFAULT)), 0);

        assertThat(ended(stream).getCode()).isEqualTo(Status.Code.OK);
        assertThat(stream.pieces).containsExactly(0);
        awaitLeaseReturned();
    }

    @Test
    void aChildThatCancelsGivesTheTaskBack() throws Exception {
        var stub = client(server(Duration.ofHours(1), UploadGrpcServer.KeepAlive.DEFAULT));
        Context.CancellableContext call = Context.current().withCancellation();
        Stream stream = call.call(() -> sync(stub, 0, 1));
        // Piece 0 is announced, piece 1 never lands: the stream stays open, holding the task.
        await().atMost(Duration.ofSeconds(20)).until(() -> stream.pieces.contains(0));
        assertThat(tasks.isActive(TASK)).isTrue();

        call.cancel(null);

        awaitLeaseReturned();
    }

    @Test
    void aStreamPastItsMaximumAgeEnds() throws Exception {
        Stream stream = sync(client(server(Duration.ofMillis(300), UploadGrpcServer.KeepAlive.DEFAULT)), 0, 1);

        Status status = ended(stream);

        assertThat(status.getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
        assertThat(status.getDescription()).contains("upload.syncPieces.maxAge");
        assertThat(stream.pieces).containsExactly(0);
        awaitLeaseReturned();
    }

    @Test
    void aChildsGrpcTimeoutDoesNotEndTheStream() throws Exception {
        // Dragonfly's Rust child sends grpc-timeout: 10s on SyncPieces (dragonflyoss/client dfdaemon_upload.rs,
        // make_request) and keeps reading long after; here 1 s, against a stream whose maximum age is 3 s.
        int port = server(Duration.ofSeconds(3), UploadGrpcServer.KeepAlive.DEFAULT);
        long start = System.nanoTime();
        TonicStyleCall<SyncPiecesResponse> call = new TonicStyleCall<>(port,
                DfdaemonUploadGrpc.getSyncPiecesMethod().getFullMethodName(), "1S", SyncPiecesRequest.newBuilder()
                .setHostId("child").setTaskId(TASK).addInterestedPieceNumbers(0).addInterestedPieceNumbers(1).build(),
                SyncPiecesResponse.parser());
        closing.add(call);

        String end = await().atMost(Duration.ofSeconds(20)).until(() -> call.end.getNow(null), e -> e != null);

        // Ended by the server's own limit, not by the caller's deadline.
        assertThat(end).contains("upload.syncPieces.maxAge");
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThan(Duration.ofMillis(2500));
        assertThat(call.messages).extracting(r -> r.message().getNumber()).containsExactly(0);
        awaitLeaseReturned();
    }

    @Test
    void aChildThatVanishesWithoutClosingIsDroppedAndGivesTheTaskBack() throws Exception {
        // gRPC pings no sooner than after 10 s of quiet; the ack gets half a second.
        UploadGrpcServer.KeepAlive quick = new UploadGrpcServer.KeepAlive(Duration.ofSeconds(10), Duration.ofMillis(500),
                Duration.ofSeconds(10));
        BlackholeProxy proxy = new BlackholeProxy(new InetSocketAddress("127.0.0.1", server(Duration.ofHours(1), quick)));
        closing.add(proxy);
        Stream stream = sync(client(proxy.port()), 0, 1);
        await().atMost(Duration.ofSeconds(20)).until(() -> stream.pieces.contains(0));
        assertThat(tasks.isActive(TASK)).isTrue();

        proxy.drop();

        // No RST, no FIN: only the server's unanswered ping tells it the child is gone.
        await().atMost(Duration.ofSeconds(40)).until(() -> !tasks.isActive(TASK));
    }
}
