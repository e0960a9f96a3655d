package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.e2e.TestFiles.TestFile;
import dev.pollen.e2e.dragonfly.DragonflyPeer;
import dev.pollen.e2e.dragonfly.DragonflyScheduler;
import dev.pollen.proto.dfdaemon.v2.DfdaemonUploadGrpc;
import dev.pollen.proto.dfdaemon.v2.SyncPiecesRequest;
import dev.pollen.proto.dfdaemon.v2.SyncPiecesResponse;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientStreamTracer;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Rust child's SyncPieces carries {@code grpc-timeout: 10s} (dragonflyoss/client @ff17c0b7,
 * {@code dragonfly-client/src/grpc/mod.rs make_request}, REQUEST_TIMEOUT), and tonic servers apply it to the first
 * response only, not to the streamed body; the child tolerates 360 s between messages
 * ({@code collected_piece_timeout}). A Pollen parent that honoured the header as grpc-java does by default would cut
 * every SyncPieces stream at 10 s, and a Rust child would lose the pieces its parent finishes after that.
 */
class SyncPiecesDeadlineTest {
    /** What the Rust child sends; the test client itself enforces no deadline, as tonic's does not on the body. */
    private static final Metadata.Key<String> GRPC_TIMEOUT = Metadata.Key.of("grpc-timeout", Metadata.ASCII_STRING_MARSHALLER);

    @RegisterExtension
    static final Nginx origin = new Nginx().location(Nginx.rateLimited("/slow/", "2m"));

    @RegisterExtension
    final Daemons daemons = new Daemons();

    @TempDir
    Path out;

    @TempDir
    Path work;

    @Test
    void aSyncPiecesStreamWithATenSecondTimeoutOutlivesIt() throws Exception {
        // 16 pieces of 4 MiB, one at a time from a 2 MiB/s origin: 16 s or more at the parent (8 s measured for 32 MiB).
        TestFile file = origin.createFile("deadline.bin", 64 * MiB, 121);
        String url = origin.url("/slow/deadline.bin");
        try (DragonflyScheduler scheduler = DragonflyScheduler.start();
                DragonflyPeer probe = DragonflyPeer.start("127.0.0.10", "dragonfly-probe", scheduler.address(), work)) {
            // The header trick reaches a server: a grpc-java server turns it into its call's deadline.
            try (DaemonChannel c = DaemonChannel.tcp(probe.ip(), probe.uploadPort())) {
                syncPieces(c.channel(), "0".repeat(64), List.of(0)).get(10, TimeUnit.SECONDS);
            }
            assertThat(probe.inboundDeadlines()).as("deadlines the probe saw").isNotEmpty();

            DaemonProcess parent = MixedCluster.startAgent(daemons, "127.0.0.2", scheduler.address(),
                    "--download.concurrentPieceCount=1");
            Dfget.Running download = parent.dfget().startDownload(url, out.resolve("parent.bin"));
            await("the parent to create the task").atMost(Duration.ofSeconds(20))
                    .until(() -> !parent.logLines("event=task_created").isEmpty());
            String task = MixedCluster.taskOf(parent, url);

            long started = System.nanoTime();
            List<Integer> all = IntStream.range(0, 16).boxed().toList();
            Set<Integer> received = ConcurrentHashMap.newKeySet();
            Status status;
            try (DaemonChannel c = DaemonChannel.tcp("127.0.0.2", MixedCluster.uploadPort(parent))) {
                status = syncPieces(c.channel(), task, all, received).get(60, TimeUnit.SECONDS);
            }
            Duration took = Duration.ofNanos(System.nanoTime() - started);

            Dfget.Result result = download.await(Duration.ofSeconds(60));
            assertThat(result.exitCode()).as(result + "\n" + parent).isZero();
            assertThat(took).as("the stream lasted past the 10 s of its grpc-timeout (else the test proves nothing); it ended " + status)
                    .isGreaterThan(Duration.ofSeconds(10));
            assertThat(status.getCode()).as("how the stream ended after " + took.toMillis() + " ms: " + status + "\n" + parent)
                    .isEqualTo(Status.Code.OK);
            assertThat(received).as("pieces the parent reported").containsExactlyInAnyOrderElementsOf(all);
        }
    }

    private static CompletableFuture<Status> syncPieces(Channel channel, String task, List<Integer> pieces) {
        return syncPieces(channel, task, pieces, ConcurrentHashMap.newKeySet());
    }

    /** SyncPieces with {@code grpc-timeout: 10S} on the wire and no deadline enforced here; completes with the end status. */
    private static CompletableFuture<Status> syncPieces(Channel channel, String task, List<Integer> pieces, Set<Integer> received) {
        CompletableFuture<Status> end = new CompletableFuture<>();
        ClientStreamTracer.Factory header = new ClientStreamTracer.Factory() {
            @Override
            public ClientStreamTracer newClientStreamTracer(ClientStreamTracer.StreamInfo info, Metadata headers) {
                headers.put(GRPC_TIMEOUT, "10S"); // seen by the transport only, after the call dropped its own
                return new ClientStreamTracer() {
                };
            }
        };
        ClientInterceptor withHeader = new ClientInterceptor() {
            @Override
            public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
                return next.newCall(method, options.withStreamTracerFactory(header));
            }
        };
        DfdaemonUploadGrpc.newStub(channel).withInterceptors(withHeader).syncPieces(SyncPiecesRequest.newBuilder()
                .setHostId("127.0.0.11-rust-child").setTaskId(task).addAllInterestedPieceNumbers(pieces).build(),
                new StreamObserver<>() {
                    @Override
                    public void onNext(SyncPiecesResponse r) {
                        received.add(r.getNumber());
                    }

                    @Override
                    public void onError(Throwable t) {
                        end.complete(Status.fromThrowable(t));
                    }

                    @Override
                    public void onCompleted() {
                        end.complete(Status.OK);
                    }
                });
        return end;
    }
}
