package dev.pollen.agent.task;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.agent.metrics.AgentMetrics;
import dev.pollen.agent.origin.Backoff;
import dev.pollen.agent.origin.OriginClient;
import dev.pollen.agent.origin.TestOrigin;
import dev.pollen.agent.peer.P2p;
import dev.pollen.agent.peer.ParentChannels;
import dev.pollen.agent.peer.VortexClient;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.vortex.VortexTransport;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Peer;
import dev.pollen.proto.common.v2.Task;
import dev.pollen.proto.dfdaemon.v2.DfdaemonUploadGrpc;
import dev.pollen.proto.dfdaemon.v2.SyncPiecesRequest;
import dev.pollen.proto.dfdaemon.v2.SyncPiecesResponse;
import dev.pollen.proto.scheduler.v2.AnnounceHostRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerResponse;
import dev.pollen.proto.scheduler.v2.EmptyTaskResponse;
import dev.pollen.proto.scheduler.v2.NeedBackToSourceResponse;
import dev.pollen.proto.scheduler.v2.NormalTaskResponse;
import dev.pollen.proto.scheduler.v2.SchedulerGrpc;
import dev.pollen.scheduler.client.SchedulerClient;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import dev.pollen.agent.storage.TaskMetadata;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent toward a scheduler that answers as Dragonfly's Go scheduler does (dragonflyoss/dragonfly
 * scheduler/service/service_v2.go, handleResource and handleRegisterPeerRequest): the task's length is the first
 * registrant's {@code actual_content_length}, unset read as 0; a task of length 0 is SizeScope EMPTY and gets
 * EmptyTaskResponse; otherwise candidate parents or NeedBackToSourceResponse.
 */
class SchedulerAnswersTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private final Queue<AnnouncePeerRequest> received = new ConcurrentLinkedQueue<>();
    private final AtomicInteger staleParentStreams = new AtomicInteger();
    private volatile Peer candidate;
    /** The peer ids the downloads were answered under. */
    private final Queue<String> answeredAs = new ConcurrentLinkedQueue<>();
    private DragonflyLikeScheduler schedulerService;
    private Server scheduler;
    private Server staleParent;
    private TestOrigin origin;
    private ExecutorService executor;
    private SchedulerClient schedulerClient;
    private ParentChannels channels;
    private VortexClient vortex;
    private TaskManager tasks;
    private Downloader downloader;

    /** Dragonfly's answers, by the rules of handleRegisterPeerRequest and ScheduleCandidateParents. */
    private final class DragonflyLikeScheduler extends SchedulerGrpc.SchedulerImplBase {
        private volatile Long taskLength;

        @Override
        public void announceHost(AnnounceHostRequest request, StreamObserver<com.google.protobuf.Empty> responses) {
            responses.onNext(com.google.protobuf.Empty.getDefaultInstance());
            responses.onCompleted();
        }

        @Override
        public StreamObserver<AnnouncePeerRequest> announcePeer(StreamObserver<AnnouncePeerResponse> responses) {
            return new StreamObserver<>() {
                @Override
                public void onNext(AnnouncePeerRequest r) {
                    received.add(r);
                    switch (r.getRequestCase()) {
                        case REGISTER_PEER_REQUEST -> {
                            Download d = r.getRegisterPeerRequest().getDownload();
                            if (taskLength == null) {
                                // handleResource: task.ContentLength.Store(int64(download.GetActualContentLength())), 0 when unset
                                taskLength = d.getActualContentLength();
                            }
                            if (taskLength == 0) {
                                responses.onNext(AnnouncePeerResponse.newBuilder()
                                        .setEmptyTaskResponse(EmptyTaskResponse.getDefaultInstance()).build());
                            } else {
                                responses.onNext(schedule());
                            }
                        }
                        case RESCHEDULE_PEER_REQUEST -> {
                            // ReschedulePeer: every candidate id joins the blocklist, then ScheduleCandidateParents again.
                            candidate = null;
                            responses.onNext(schedule());
                        }
                        default -> {
                        }
                    }
                }

                @Override
                public void onError(Throwable t) {
                }

                @Override
                public void onCompleted() {
                    responses.onCompleted();
                }
            };
        }

        private AnnouncePeerResponse schedule() {
            Peer parent = candidate;
            if (parent == null) {
                return AnnouncePeerResponse.newBuilder().setNeedBackToSourceResponse(NeedBackToSourceResponse.newBuilder()
                        .setDescription("scheduling exceeded RetryBackToSourceLimit")).build();
            }
            return AnnouncePeerResponse.newBuilder().setNormalTaskResponse(NormalTaskResponse.newBuilder()
                    .addCandidateParents(parent)).build();
        }
    }

    /** A parent the scheduler still names after it let the task go: Dragonfly's SyncPieces fails "task .. not found". */
    private final class ParentWithoutTheTask extends DfdaemonUploadGrpc.DfdaemonUploadImplBase {
        @Override
        public void syncPieces(SyncPiecesRequest request, StreamObserver<SyncPiecesResponse> responses) {
            staleParentStreams.incrementAndGet();
            responses.onError(Status.NOT_FOUND.withDescription("task " + request.getTaskId() + " not found").asRuntimeException());
        }
    }

    @BeforeEach
    void setUp() throws Exception {
        schedulerService = new DragonflyLikeScheduler();
        scheduler = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(schedulerService)
                .build().start();
        staleParent = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(new ParentWithoutTheTask())
                .build().start();
        origin = new TestOrigin();
        executor = Executors.newVirtualThreadPerTaskExecutor();
        Host host = Host.newBuilder().setId("127.0.0.1-test").setIp("127.0.0.1").build();
        schedulerClient = new SchedulerClient(List.of("127.0.0.1:" + scheduler.getPort()), () -> host, Duration.ofMinutes(1),
                Clock.systemUTC());
        schedulerClient.start();
        channels = new ParentChannels(null);
        vortex = new VortexClient(new VortexClient.Options(VortexTransport.best(), 1, 2, Duration.ofSeconds(30), null));
        P2p p2p = new P2p(schedulerClient, host.getId(), channels, vortex, Duration.ofSeconds(5), Duration.ofSeconds(10),
                Duration.ofSeconds(5));
        OriginClient client = new OriginClient(3, new Backoff(Duration.ofMillis(10)), Duration.ofSeconds(2), Duration.ofSeconds(5));
        tasks = new TaskManager(new Storage(dir.resolve("store")), client, executor, 4, Clock.systemUTC(), p2p, AgentMetrics.none());
        downloader = new Downloader(tasks);
    }

    @AfterEach
    void tearDown() {
        tasks.close();
        vortex.close();
        channels.close();
        schedulerClient.close();
        executor.shutdownNow();
        origin.close();
        scheduler.shutdownNow();
        staleParent.shutdownNow();
    }

    private static byte[] random(int size) {
        byte[] b = new byte[size];
        new Random(size).nextBytes(b);
        return b;
    }

    private Path download(String url) throws Exception {
        Path out = dir.resolve("out-" + received.size());
        DownloadRequest request = new DownloadRequest(new TaskSpec(url, null, null, null, Set.of(), Map.of()), null, null, out, false,
                false, true);
        downloader.download(request, new DownloadListener() {
            @Override
            public void registeredAs(String peerId) {
                answeredAs.add(peerId);
            }

            @Override
            public void started(TaskMetadata metadata) {
            }

            @Override
            public void pieceReady(ReadyPiece piece) {
            }
        }, new CompletableFuture<>());
        return out;
    }

    private Download registered() {
        return received.stream().filter(AnnouncePeerRequest::hasRegisterPeerRequest).findFirst().orElseThrow()
                .getRegisterPeerRequest().getDownload();
    }

    @Test
    void registersWithTheLengthTheOriginGaveAsDragonflysDfdaemonDoes() throws Exception {
        byte[] body = random(10 * MIB);
        origin.serve("/ten", body);

        Path out = download(origin.url("/ten"));

        assertThat(out).hasBinaryContent(body);
        Download d = registered();
        assertThat(d.hasActualContentLength()).as("actual_content_length set").isTrue();
        assertThat(d.getActualContentLength()).isEqualTo(body.length);
        assertThat(d.getActualPieceLength()).isEqualTo(4L * MIB);
        assertThat(d.getActualPieceCount()).isEqualTo(3);
        // dfdaemon_download.rs answers with the peer id it registered: the scheduler and the caller name one peer.
        String registeredPeer = received.stream().filter(AnnouncePeerRequest::hasRegisterPeerRequest).findFirst().orElseThrow()
                .getPeerId();
        assertThat(answeredAs).containsExactly(registeredPeer);
        await().untilAsserted(() -> assertThat(received).extracting(AnnouncePeerRequest::getRequestCase)
                .contains(AnnouncePeerRequest.RequestCase.DOWNLOAD_PEER_BACK_TO_SOURCE_STARTED_REQUEST,
                        AnnouncePeerRequest.RequestCase.DOWNLOAD_PEER_BACK_TO_SOURCE_FINISHED_REQUEST));
    }

    @Test
    void anEmptyTaskResponseForAnEmptyFileWritesAnEmptyFileAndReportsStartAndEnd() throws Exception {
        origin.serve("/empty", new byte[0]);

        Path out = download(origin.url("/empty"));

        assertThat(Files.size(out)).isZero();
        assertThat(registered().getActualContentLength()).isZero();
        // The Rust client's answer to EmptyTaskResponse (resource/task.rs): DownloadPeerStarted, then DownloadPeerFinished.
        await().untilAsserted(() -> assertThat(received).extracting(AnnouncePeerRequest::getRequestCase)
                .containsExactly(AnnouncePeerRequest.RequestCase.REGISTER_PEER_REQUEST,
                        AnnouncePeerRequest.RequestCase.DOWNLOAD_PEER_STARTED_REQUEST,
                        AnnouncePeerRequest.RequestCase.DOWNLOAD_PEER_FINISHED_REQUEST));
    }

    @Test
    void anEmptyFileTheSchedulerSendsToTheSourceIsReportedFinishedAtOnce() throws Exception {
        origin.serve("/empty-too", new byte[0]);
        // The first registrant of this task said it had bytes: the scheduler schedules it (NeedBackToSource here).
        schedulerService.taskLength = 5L;

        Path out = download(origin.url("/empty-too"));

        assertThat(Files.size(out)).isZero();
        // Not left open to be reported Failed when the idle task is closed (which would fail the task for everyone).
        await().untilAsserted(() -> assertThat(received).extracting(AnnouncePeerRequest::getRequestCase)
                .containsExactly(AnnouncePeerRequest.RequestCase.REGISTER_PEER_REQUEST,
                        AnnouncePeerRequest.RequestCase.DOWNLOAD_PEER_BACK_TO_SOURCE_STARTED_REQUEST,
                        AnnouncePeerRequest.RequestCase.DOWNLOAD_PEER_BACK_TO_SOURCE_FINISHED_REQUEST));
    }

    @Test
    void anEmptyTaskResponseTheOriginContradictsIsNotBelieved() throws Exception {
        byte[] body = random(MIB);
        origin.serve("/not-empty", body);
        // Dragonfly's scheduler keeps the first registrant's length: one that registered without it made the task EMPTY.
        schedulerService.taskLength = 0L;

        Path out = download(origin.url("/not-empty"));

        assertThat(out).hasBinaryContent(body);
        await().untilAsserted(() -> assertThat(received).extracting(AnnouncePeerRequest::getRequestCase)
                .contains(AnnouncePeerRequest.RequestCase.DOWNLOAD_PEER_BACK_TO_SOURCE_FINISHED_REQUEST));
    }

    @Test
    void aParentThatNoLongerHasTheTaskIsDroppedAtOnceAndTheSchedulerTold() throws Exception {
        byte[] body = random(9 * MIB);
        origin.serve("/stale", body);
        candidate = Peer.newBuilder().setId("stale-parent").setState("Succeeded")
                .setHost(Host.newBuilder().setId("127.0.0.2-other").setIp("127.0.0.1").setPort(staleParent.getPort()))
                .setTask(Task.newBuilder().setContentLength(body.length)).build();

        long started = System.nanoTime();
        Path out = download(origin.url("/stale"));
        long tookMillis = (System.nanoTime() - started) / 1_000_000;

        assertThat(out).hasBinaryContent(body);
        assertThat(staleParentStreams.get()).as("SyncPieces calls to the stale parent").isEqualTo(1);
        // Sent to the source by the reschedule's answer, the peer says so as the Rust client does (resource/task.rs):
        // DownloadPeerBackToSourceStarted, then DownloadPeerBackToSourceFinished.
        await().untilAsserted(() -> assertThat(received).extracting(AnnouncePeerRequest::getRequestCase)
                .containsSubsequence(AnnouncePeerRequest.RequestCase.RESCHEDULE_PEER_REQUEST,
                        AnnouncePeerRequest.RequestCase.DOWNLOAD_PEER_BACK_TO_SOURCE_STARTED_REQUEST,
                        AnnouncePeerRequest.RequestCase.DOWNLOAD_PEER_BACK_TO_SOURCE_FINISHED_REQUEST));
        assertThat(received).filteredOn(AnnouncePeerRequest::hasReschedulePeerRequest)
                .as("one reschedule for all three pieces, naming the stale parent").singleElement()
                .satisfies(r -> assertThat(r.getReschedulePeerRequest().getCandidateParentsList()).extracting(Peer::getId)
                        .containsExactly("stale-parent"));
        // Loose: the old code asked the stale parent ten times, 200 ms apart, before giving up on it.
        assertThat(tookMillis).isLessThan(1500);
    }
}
