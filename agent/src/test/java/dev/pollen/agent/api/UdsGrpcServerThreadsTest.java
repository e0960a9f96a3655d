package dev.pollen.agent.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.agent.config.DownloadConfig;
import dev.pollen.proto.common.v2.Task;
import dev.pollen.proto.dfdaemon.v2.DfdaemonDownloadGrpc;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskRequest;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskResponse;
import dev.pollen.proto.dfdaemon.v2.StatTaskRequest;
import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The local API's threads are its own: busy virtual threads (piece work) cannot hold up its short calls. */
class UdsGrpcServerThreadsTest {
    @TempDir
    Path dir;

    private final Map<String, Thread> ranOn = new ConcurrentHashMap<>();
    private SocketGuard guard;
    private UdsGrpcServer server;
    private EpollEventLoopGroup clientLoop;
    private ManagedChannel channel;

    @BeforeEach
    void setUp() throws Exception {
        Path socket = dir.resolve("d.sock");
        guard = SocketGuard.acquire(socket);
        server = UdsGrpcServer.start(guard, new DownloadConfig.Server(socket, "0660", Duration.ofSeconds(1)),
                List.of(new RecordingService()), new UdsGrpcServer.Threads(1, 2));
        server.health().setStatus("", ServingStatus.SERVING);
        clientLoop = new EpollEventLoopGroup(1);
        channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toFile()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(clientLoop).usePlaintext().build();
    }

    @AfterEach
    void tearDown() throws Exception {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        clientLoop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        server.close();
        guard.close();
    }

    @Test
    void healthAndStatAnswerWhileEveryVirtualThreadCarrierIsBusy() throws Exception {
        AtomicBoolean spin = new AtomicBoolean(true);
        List<Thread> spinners = new ArrayList<>();
        // More CPU-bound virtual threads than carriers: none of them ever yields its carrier.
        int carriers = Integer.getInteger("jdk.virtualThreadScheduler.parallelism", Runtime.getRuntime().availableProcessors());
        for (int i = 0; i < carriers * 2; i++) {
            spinners.add(Thread.ofVirtual().start(() -> {
                while (spin.get()) {
                    Thread.onSpinWait();
                }
            }));
        }
        try {
            assertThat(HealthGrpc.newBlockingStub(channel).withDeadlineAfter(2, TimeUnit.SECONDS)
                    .check(HealthCheckRequest.getDefaultInstance()).getStatus()).isEqualTo(ServingStatus.SERVING);
            assertThat(DfdaemonDownloadGrpc.newBlockingStub(channel).withDeadlineAfter(2, TimeUnit.SECONDS)
                    .statTask(StatTaskRequest.newBuilder().setTaskId("t").build()).getId()).isEqualTo("t");
        } finally {
            spin.set(false);
            for (Thread t : spinners) {
                t.join();
            }
        }
    }

    @Test
    void shortCallsRunOnControlThreadsAndDownloadsOnVirtualThreads() {
        DfdaemonDownloadGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.SECONDS)
                .statTask(StatTaskRequest.newBuilder().setTaskId("t").build());
        DfdaemonDownloadGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.SECONDS)
                .downloadTask(DownloadTaskRequest.getDefaultInstance()).forEachRemaining(r -> { });

        assertThat(ranOn.get("stat").isVirtual()).isFalse();
        assertThat(ranOn.get("stat").getName()).startsWith("uds-control-");
        assertThat(ranOn.get("download").isVirtual()).isTrue();
        assertThat(ranOn.get("download").getName()).startsWith("uds-call-");
    }

    private final class RecordingService extends DfdaemonDownloadGrpc.DfdaemonDownloadImplBase {
        @Override
        public void statTask(StatTaskRequest request, StreamObserver<Task> responses) {
            ranOn.put("stat", Thread.currentThread());
            responses.onNext(Task.newBuilder().setId(request.getTaskId()).build());
            responses.onCompleted();
        }

        @Override
        public void downloadTask(DownloadTaskRequest request, StreamObserver<DownloadTaskResponse> responses) {
            ranOn.put("download", Thread.currentThread());
            responses.onCompleted();
        }
    }
}
