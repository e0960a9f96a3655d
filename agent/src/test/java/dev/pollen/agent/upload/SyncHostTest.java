package dev.pollen.agent.upload;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.agent.origin.HostResolver;
import dev.pollen.policy.SuperSeeding;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.dfdaemon.v2.DfdaemonUploadGrpc;
import dev.pollen.proto.dfdaemon.v2.SyncHostRequest;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** SyncHost over a real gRPC server: the host's identity with its load, again every interval, until cancelled. */
class SyncHostTest {
    private final AtomicInteger reports = new AtomicInteger();
    private ScheduledExecutorService timer;
    private ExecutorService calls;
    private UploadGrpcServer server;
    private ManagedChannel channel;

    @BeforeEach
    void setUp() throws Exception {
        timer = Executors.newSingleThreadScheduledExecutor();
        calls = Executors.newVirtualThreadPerTaskExecutor();
        DfdaemonUploadService service = new DfdaemonUploadService(null, null, null, "127.0.0.1", 4005,
                () -> Host.newBuilder().setId("127.0.0.1-node").setIp("127.0.0.1").setPort(4000)
                        .setType(reports.incrementAndGet()).build(),
                timer, Duration.ofMillis(50), Duration.ofHours(1), SuperSeeding.OFF);
        server = UploadGrpcServer.start(new InetSocketAddress("127.0.0.1", 0), service,
                new DownloadTaskGuard(false, false, new SchedulerAllowList(List.of(), List.of(), HostResolver.SYSTEM)),
                calls, 1, UploadGrpcServer.KeepAlive.DEFAULT, null);
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    }

    @AfterEach
    void tearDown() throws Exception {
        channel.shutdownNow();
        server.close();
        timer.shutdownNow();
        calls.close();
    }

    @Test
    void aChildsGrpcTimeoutDoesNotEndTheStream() throws Exception {
        // Dragonfly's Rust child sends grpc-timeout: 10s on SyncHost too (dragonflyoss/client dfdaemon_upload.rs,
        // make_request) and reads the stream for as long as it downloads; here 1 s.
        long start = System.nanoTime();
        try (TonicStyleCall<Host> call = new TonicStyleCall<>(server.port(), DfdaemonUploadGrpc.getSyncHostMethod().getFullMethodName(),
                "1S", SyncHostRequest.newBuilder().setHostId("child-host").setPeerId("child-peer").build(), Host.parser())) {
            long past = start + Duration.ofMillis(2500).toNanos();

            await().atMost(Duration.ofSeconds(20)).until(() -> !call.messages.isEmpty() && call.messages.getLast().nanos() > past
                    || call.end.isDone());

            assertThat(call.end.getNow("still open")).isEqualTo("still open");
        }
    }

    @Test
    void streamsTheHostNowAndAgainEveryIntervalUntilTheCallerCancels() {
        List<Host> received = new CopyOnWriteArrayList<>();
        Context.CancellableContext call = Context.current().withCancellation();
        call.run(() -> DfdaemonUploadGrpc.newStub(channel).syncHost(
                SyncHostRequest.newBuilder().setHostId("child-host").setPeerId("child-peer").build(), new StreamObserver<>() {
                    @Override
                    public void onNext(Host host) {
                        received.add(host);
                    }

                    @Override
                    public void onError(Throwable t) {
                    }

                    @Override
                    public void onCompleted() {
                    }
                }));
        await().atMost(Duration.ofSeconds(10)).until(() -> received.size() >= 3);
        // The stream keeps going while we look: judge one snapshot.
        List<Host> snapshot = List.copyOf(received);
        assertThat(snapshot).allSatisfy(h -> assertThat(h.getId()).isEqualTo("127.0.0.1-node"));
        // Each message is a fresh report, not one snapshot repeated.
        assertThat(snapshot.stream().map(Host::getType).distinct().count()).isEqualTo(snapshot.size());

        call.cancel(null);
        // The cancel reaches the server asynchronously: wait until two polls, 3 intervals apart, see the same count.
        AtomicInteger seen = new AtomicInteger(-1);
        await().pollInterval(Duration.ofMillis(150)).atMost(Duration.ofSeconds(10))
                .until(() -> seen.getAndSet(reports.get()) == reports.get());
        int after = reports.get();
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2)).until(() -> reports.get() == after);
    }
}
