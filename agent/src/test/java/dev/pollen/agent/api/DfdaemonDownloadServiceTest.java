package dev.pollen.agent.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.pollen.agent.metrics.AgentMetrics;
import dev.pollen.agent.origin.Backoff;
import dev.pollen.agent.origin.OriginClient;
import dev.pollen.agent.origin.TestOrigin;
import dev.pollen.agent.origin.OriginAddressPolicy;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.task.ActiveTask;
import dev.pollen.agent.task.BlobReadCheck;
import dev.pollen.agent.task.Downloader;
import dev.pollen.agent.task.TaskManager;
import dev.pollen.agent.task.TaskSpec;
import dev.pollen.agent.upload.DfdaemonUploadService;
import dev.pollen.policy.SuperSeeding;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.proto.common.v2.Task;
import dev.pollen.proto.dfdaemon.v2.DfdaemonDownloadGrpc;
import dev.pollen.proto.dfdaemon.v2.DfdaemonUploadGrpc;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskRequest;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskResponse;
import dev.pollen.proto.dfdaemon.v2.ListLocalTasksRequest;
import dev.pollen.proto.dfdaemon.v2.StatLocalTaskRequest;
import dev.pollen.proto.dfdaemon.v2.StatTaskRequest;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The local API's view of tasks (and the peer API's DownloadTask, which reuses its download path). */
class DfdaemonDownloadServiceTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private TestOrigin origin;
    private ExecutorService executor;
    private ScheduledExecutorService timer;
    private Storage storage;
    private TaskManager tasks;
    private Server server;
    private ManagedChannel channel;
    private DfdaemonDownloadGrpc.DfdaemonDownloadBlockingStub local;
    private DfdaemonUploadGrpc.DfdaemonUploadBlockingStub peers;

    @BeforeEach
    void setUp() throws Exception {
        origin = new TestOrigin();
        executor = Executors.newVirtualThreadPerTaskExecutor();
        timer = Executors.newSingleThreadScheduledExecutor();
        storage = new Storage(dir.resolve("store"));
        OriginClient client = new OriginClient(2, new Backoff(Duration.ofMillis(10)), Duration.ofSeconds(2), Duration.ofSeconds(5));
        tasks = new TaskManager(storage, client, executor, 4, Clock.systemUTC(), null, AgentMetrics.none());
        DfdaemonDownloadService download = new DfdaemonDownloadService("host", new Downloader(tasks), tasks, storage,
                new BlobReadCheck(client));
        DfdaemonUploadService upload = new DfdaemonUploadService(tasks, download.forScheduler(),
                new OriginAddressPolicy(List.of()), "127.0.0.1", 0, Host::getDefaultInstance, timer, Duration.ofSeconds(5),
                Duration.ofHours(1), dev.pollen.policy.SuperSeeding.OFF);
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(download).addService(upload)
                .executor(executor).build().start();
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        local = DfdaemonDownloadGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS);
        peers = DfdaemonUploadGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    @AfterEach
    void tearDown() throws Exception {
        channel.shutdownNow();
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        tasks.close();
        timer.shutdownNow();
        executor.shutdownNow();
        origin.close();
    }

    private static String taskId(String url) {
        return new TaskSpec(url, null, null, null, Set.of(), Map.of()).taskId();
    }

    @Test
    void aCallerThatGoesAwayMidDownloadGetsNoOutputWritten() throws Exception {
        byte[] body = new byte[9 * MIB];
        new Random(2).nextBytes(body);
        origin.serve("/cancelled", body);
        java.util.concurrent.CountDownLatch asked = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        origin.beforeFirstPiece(() -> {
            asked.countDown();
            try {
                release.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        Path out = dir.resolve("cancelled.bin");
        io.grpc.Context.CancellableContext caller = io.grpc.Context.current().withCancellation();
        caller.run(() -> DfdaemonDownloadGrpc.newStub(channel).downloadTask(DownloadTaskRequest.newBuilder()
                .setDownload(Download.newBuilder().setUrl(origin.url("/cancelled")).setOutputPath(out.toString())).build(),
                new io.grpc.stub.StreamObserver<>() {
                    @Override
                    public void onNext(DownloadTaskResponse value) {
                    }

                    @Override
                    public void onError(Throwable t) {
                    }

                    @Override
                    public void onCompleted() {
                    }
                }));
        assertThat(asked.await(10, TimeUnit.SECONDS)).isTrue();

        caller.cancel(null);
        release.countDown();

        // The task itself may finish for others; this caller's output must not appear once it has gone.
        String id = taskId(origin.url("/cancelled"));
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            var snapshot = tasks.snapshot(id);
            return snapshot != null && snapshot.metadata().finished();
        });
        await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(2)).until(() -> !Files.exists(out));
    }

    @Test
    void aStatRacingATasksCreationNeverDeletesIt() throws Exception {
        // A download creates the task's directory and content just before its metadata lands.
        String id = taskId(origin.url("/f"));
        Path task = storage.dir().resolve(id);
        Files.createDirectories(task);
        Files.write(task.resolve("content"), new byte[1024]);

        assertThatThrownBy(() -> local.statTask(StatTaskRequest.newBuilder().setTaskId(id).build()))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND));
        assertThatThrownBy(() -> local.statLocalTask(StatLocalTaskRequest.newBuilder().setTaskId(id).build()))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND));
        assertThat(local.listLocalTasks(ListLocalTasksRequest.getDefaultInstance()).getTasksList()).isEmpty();
        assertThat(task.resolve("content")).hasSize(1024);
    }

    @Test
    void aStatOfAnActiveTaskReportsItsCurrentPiecesWithoutTouchingItsFiles() throws Exception {
        byte[] body = new byte[12 * MIB];
        new Random(1).nextBytes(body);
        origin.serve("/f", body);
        ActiveTask task = tasks.acquire(new TaskSpec(origin.url("/f"), null, null, null, Set.of(), Map.of()), true,
                new CompletableFuture<>());
        try {
            task.piece(1, true).get(10, TimeUnit.SECONDS);
            Path metadata = storage.dir().resolve(task.id()).resolve("metadata");
            byte[] before = Files.readAllBytes(metadata);

            Task stat = local.statTask(StatTaskRequest.newBuilder().setTaskId(task.id()).build());
            assertThat(stat.getState()).isEqualTo("Running");
            assertThat(stat.getPieceCount()).isEqualTo(3);
            assertThat(stat.getPiecesList()).extracting(Piece::getNumber).containsExactly(1);
            assertThat(local.statLocalTask(StatLocalTaskRequest.newBuilder().setTaskId(task.id()).build()).getContentLength())
                    .isEqualTo(body.length);
            assertThat(local.listLocalTasks(ListLocalTasksRequest.getDefaultInstance()).getTasksList()).hasSize(1);

            task.piece(0, true).get(10, TimeUnit.SECONDS);
            assertThat(local.statTask(StatTaskRequest.newBuilder().setTaskId(task.id()).build()).getPiecesList())
                    .extracting(Piece::getNumber).containsExactly(0, 1);
            assertThat(Files.readAllBytes(metadata)).isEqualTo(before);
        } finally {
            tasks.release(task);
        }
    }

    @Test
    void aBlobNamedByItsDigestGoesOnlyToCallersItsRegistryLetsIn() throws Exception {
        byte[] layer = new byte[6 * MIB];
        new Random(4).nextBytes(layer);
        String path = "/v2/private/app/blobs/sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(layer));
        origin.serve(path, layer);
        Path first = dir.resolve("alice");
        local.downloadTask(blobRequest(path, first, "Basic YWxpY2U6czNjcmV0")).forEachRemaining(r -> { });
        assertThat(Files.readAllBytes(first)).isEqualTo(layer);

        // The layer is stored here now; the registry refuses whoever comes next (no credentials, say).
        origin.status(path, 401);
        long sent = origin.bodyBytesSent();
        Path second = dir.resolve("stranger");
        assertThatThrownBy(() -> local.downloadTask(blobRequest(path, second, null)).forEachRemaining(r -> { }))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
                    assertThat(e.getStatus().getDescription()).contains("only to callers its registry lets in")
                            .contains("origin answered 401");
                });
        assertThat(second).doesNotExist();
        // A scheduler's DownloadTask on the peer API (a seed's back-to-source, a preheat) stores, and is not asked.
        peers.downloadTask(blobRequest(path, null, null)).forEachRemaining(r -> { });

        // A registry that cannot answer confirms nobody.
        origin.status(path, 503);
        assertThatThrownBy(() -> local.downloadTask(blobRequest(path, second, "Basic YWxpY2U6czNjcmV0")).forEachRemaining(r -> { }))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
                    assertThat(e.getStatus().getDescription()).contains("could not confirm").contains("proxy.authorization.enable");
                });
        assertThat(second).doesNotExist();
        assertThat(origin.bodyBytesSent()).isEqualTo(sent);

        // Let in again, the caller gets the stored layer.
        origin.serve(path, layer);
        local.downloadTask(blobRequest(path, second, "Basic YWxpY2U6czNjcmV0")).forEachRemaining(r -> { });
        assertThat(Files.readAllBytes(second)).isEqualTo(layer);
        assertThat(origin.bodyBytesSent() - sent).as("the check's one byte, not the layer again").isEqualTo(1);
    }

    private DownloadTaskRequest blobRequest(String path, Path output, String authorization) {
        Download.Builder d = Download.newBuilder().setUrl(origin.url(path)).setEnableTaskIdBasedBlobDigest(true);
        if (output != null) {
            d.setOutputPath(output.toString());
        }
        if (authorization != null) {
            d.putRequestHeader("Authorization", authorization);
        }
        return DownloadTaskRequest.newBuilder().setDownload(d).build();
    }

    @Test
    void pieceLengthsBelowTheFloorAreRefusedOnTheLocalAndThePeerApi() {
        origin.serve("/f", new byte[MIB]);
        DownloadTaskRequest one = DownloadTaskRequest.newBuilder().setDownload(Download.newBuilder()
                .setUrl(origin.url("/f")).setPieceLength(1).setOutputPath(dir.resolve("o").toString())).build();
        assertThatThrownBy(() -> local.downloadTask(one).forEachRemaining(r -> { }))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                    assertThat(e.getStatus().getDescription()).contains("Download.piece_length (dfget --piece-length)")
                            .contains("expected: 64.0 KiB..64.0 MiB");
                });
        DownloadTaskRequest kib = DownloadTaskRequest.newBuilder().setDownload(Download.newBuilder()
                .setUrl(origin.url("/f")).setPieceLength(1024)).build();
        assertThatThrownBy(() -> peers.downloadTask(kib).forEachRemaining(r -> { }))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                    assertThat(e.getStatus().getDescription()).contains("Download.piece_length");
                });
        assertThat(origin.bodyBytesSent()).isZero();
        assertThat(dir.resolve("o")).doesNotExist();
    }
}
