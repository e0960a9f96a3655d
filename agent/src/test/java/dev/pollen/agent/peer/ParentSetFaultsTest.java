package dev.pollen.agent.peer;

import static dev.pollen.agent.peer.RawVortexParent.crc32;
import static dev.pollen.agent.peer.RawVortexParent.header;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.storage.StoredTask;
import dev.pollen.agent.storage.TaskMetadata;
import dev.pollen.agent.vortex.VortexTransport;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Peer;
import dev.pollen.proto.dfdaemon.v2.DfdaemonUploadGrpc;
import dev.pollen.proto.dfdaemon.v2.SyncPiecesRequest;
import dev.pollen.proto.dfdaemon.v2.SyncPiecesResponse;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.buffer.Unpooled;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Faults that are not the parent's: our own disk cannot take its piece, or its SyncPieces stream reaches its
 * maximum age. The parent is neither blamed nor dropped.
 */
class ParentSetFaultsTest {
    private static final int PIECE = 64 * 1024;
    private static final String TASK = "e".repeat(64);

    @TempDir
    Path dir;

    private final byte[] data = new byte[2 * PIECE];
    private final List<String> failedReports = new CopyOnWriteArrayList<>();
    private final java.util.concurrent.atomic.AtomicInteger streamsToAge = new java.util.concurrent.atomic.AtomicInteger();
    private final java.util.concurrent.atomic.AtomicInteger streams = new java.util.concurrent.atomic.AtomicInteger();
    private RawVortexParent parent;
    private Server upload;
    private ParentChannels channels;
    private VortexClient vortex;
    private ParentSet set;

    @BeforeEach
    void setUp() throws Exception {
        new Random(3).nextBytes(data);
        parent = new RawVortexParent((ctx, request) -> {
            byte[] bytes = Arrays.copyOfRange(data, (int) request.number() * PIECE, (int) (request.number() + 1) * PIECE);
            ctx.write(header(request.number(), request.number() * PIECE, bytes.length, crc32(bytes)));
            ctx.writeAndFlush(Unpooled.wrappedBuffer(bytes));
        });
        // The parent's SyncPieces: every piece asked for is there, served by the raw Vortex parent.
        upload = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(new DfdaemonUploadGrpc.DfdaemonUploadImplBase() {
                    @Override
                    public void syncPieces(SyncPiecesRequest request, StreamObserver<SyncPiecesResponse> responses) {
                        streams.incrementAndGet();
                        if (streamsToAge.getAndDecrement() > 0) {
                            // What a Pollen parent does when a stream passes upload.syncPieces.maxAge.
                            responses.onError(io.grpc.Status.DEADLINE_EXCEEDED.withDescription("stream max age").asRuntimeException());
                            return;
                        }
                        for (int n : request.getInterestedPieceNumbersList()) {
                            responses.onNext(SyncPiecesResponse.newBuilder().setNumber(n).setIp("127.0.0.1")
                                    .setTcpPort(parent.address().getPort()).build());
                        }
                        responses.onCompleted();
                    }
                })
                .build().start();
        channels = new ParentChannels(null);
        vortex = new VortexClient(new VortexClient.Options(VortexTransport.best(), 1, 2, Duration.ofSeconds(30), null));
        set = parentSet(Set.of());
    }

    private ParentSet parentSet(Set<String> suspects) {
        return new ParentSet("child-host", TASK, channels, vortex, Duration.ofSeconds(10), new ParentSet.Reporter() {
            @Override
            public void pieceFromParent(ParentSet.Fetched fetched) {
            }

            @Override
            public void parentFailed(int number, String parentId, String why) {
                failedReports.add(parentId + ": " + why);
            }

            @Override
            public void parentSlow(int number, String parentId) {
            }
        }, suspects);
    }

    private void followTheParent() {
        set.add(List.of(Peer.newBuilder().setId("healthy-parent").setHost(Host.newBuilder().setId("parent-host")
                .setIp("127.0.0.1").setPort(upload.getPort()).setDownloadPort(parent.address().getPort())).build()), List.of(0, 1));
    }

    @AfterEach
    void tearDown() throws Exception {
        set.close();
        vortex.close();
        channels.close();
        upload.shutdownNow().awaitTermination();
        parent.close();
    }

    private StoredTask store(String name) throws Exception {
        return new Storage(dir.resolve(name)).create(TaskMetadata.started(TASK, "http://origin/f", data.length, PIECE, true,
                Map.of(), Instant.EPOCH));
    }

    @Test
    void aLocalWriteFailureIsOursAndTheParentStaysInUse() throws Exception {
        followTheParent();
        StoredTask broken = store("broken");
        // Writes to a closed channel fail as a disk would: the bytes arrive but cannot be placed.
        broken.content().close();
        assertThatThrownBy(() -> set.fetch(broken, 0, Duration.ofSeconds(10)))
                .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.INTERNAL))
                .hasMessageContaining("local storage error while writing piece 0 of task " + TASK + " from parent healthy-parent")
                .hasMessageContaining("not at fault");
        assertThat(failedReports).isEmpty();
        assertThat(set.unusable()).isEmpty();

        // The same parent still serves the next piece to a healthy store.
        try (StoredTask healthy = store("healthy")) {
            ParentSet.Fetched fetched = set.fetch(healthy, 1, Duration.ofSeconds(10));
            assertThat(fetched).isNotNull();
            assertThat(fetched.parentId()).isEqualTo("healthy-parent");
            assertThat(healthy.piece(1)).isNotNull();
        }
        assertThat(failedReports).isEmpty();
    }

    @Test
    void aStreamEndedForItsAgeIsFollowedAgainAndTheParentStaysInUse() throws Exception {
        streamsToAge.set(1);
        followTheParent();
        try (StoredTask healthy = store("aged")) {
            ParentSet.Fetched fetched = set.fetch(healthy, 0, Duration.ofSeconds(10));
            assertThat(fetched).isNotNull();
            assertThat(fetched.parentId()).isEqualTo("healthy-parent");
        }
        assertThat(streams.get()).isEqualTo(2);
        assertThat(set.unusable()).isEmpty();
        assertThat(failedReports).isEmpty();
    }

    @Test
    void aSuspectNamedByTheSchedulerIsReportedAsFailedAndNeverFollowed() throws Exception {
        set.close();
        set = parentSet(Set.of("healthy-parent"));
        followTheParent();

        assertThat(failedReports).containsExactly("healthy-parent: a copy of this task from it failed its content digest");
        assertThat(set.hasUsableParents()).isFalse();
        assertThat(streams.get()).as("SyncPieces streams opened to the suspect").isZero();
        // Named again (a reschedule): not reported twice.
        followTheParent();
        assertThat(failedReports).hasSize(1);
    }
}
