package dev.pollen.scheduler;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.Timestamp;
import dev.pollen.proto.common.v2.Build;
import dev.pollen.proto.common.v2.CPU;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Memory;
import dev.pollen.proto.common.v2.Network;
import dev.pollen.proto.common.v2.Peer;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.proto.common.v2.Priority;
import dev.pollen.proto.common.v2.SizeScope;
import dev.pollen.proto.common.v2.Task;
import dev.pollen.proto.common.v2.TaskType;
import dev.pollen.proto.common.v2.TrafficType;
import dev.pollen.proto.scheduler.v2.AnnounceHostRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerResponse;
import dev.pollen.proto.scheduler.v2.DeleteHostRequest;
import dev.pollen.proto.scheduler.v2.DeletePeerRequest;
import dev.pollen.proto.scheduler.v2.DeleteTaskRequest;
import dev.pollen.proto.scheduler.v2.DownloadPeerBackToSourceFailedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPeerBackToSourceFinishedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPeerBackToSourceStartedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPeerFailedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPeerFinishedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPeerStartedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPieceBackToSourceFinishedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPieceFailedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPieceFinishedRequest;
import dev.pollen.proto.scheduler.v2.ListHostsRequest;
import dev.pollen.proto.scheduler.v2.RegisterPeerRequest;
import dev.pollen.proto.scheduler.v2.ReschedulePeerRequest;
import dev.pollen.proto.scheduler.v2.SchedulerGrpc;
import dev.pollen.proto.scheduler.v2.StatPeerRequest;
import dev.pollen.proto.scheduler.v2.StatTaskRequest;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Pollen's scheduler against peers that speak as Dragonfly's Rust dfdaemon does (dragonflyoss/client
 * dragonfly-client/src/resource/task.rs, download_partial_with_scheduler and its _from_parent/_from_source
 * halves: the requests below are shaped as it sends them), asserting the answers Dragonfly's Go scheduler gives
 * (dragonflyoss/dragonfly @66db4564 scheduler/service/service_v2.go unless a test names another file).
 */
class DragonflyPeerCompatibilityTest {
    private static final long MIB = 1024 * 1024;
    private static final String TASK = "d7".repeat(32);
    private static final String URL = "http://origin.example/blob.bin";

    private final MutableClock clock = new MutableClock();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
    private final UploadCalls uploads = new UploadCalls(null);
    private final SeedTrigger seeds = new SeedTrigger(uploads);
    private Server server;
    private ManagedChannel channel;
    private SchedulerGrpc.SchedulerBlockingStub scheduler;

    @BeforeEach
    void start() throws IOException {
        String name = InProcessServerBuilder.generateName();
        Cluster cluster = new Cluster(clock, SchedulingConfig.defaults());
        server = InProcessServerBuilder.forName(name).directExecutor()
                .addService(new SchedulerService(cluster, seeds, timer, Decisions.unregistered())).build().start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        scheduler = SchedulerGrpc.newBlockingStub(channel);
    }

    @AfterEach
    void stop() {
        channel.shutdownNow();
        server.shutdownNow();
        timer.shutdownNow();
        uploads.close();
    }

    /** A host as dfdaemon's announcer fills it (dragonfly-client/src/announcer/mod.rs, make_announce_host_request). */
    private Host announce(String name, int type) {
        Host host = Host.newBuilder().setId("10.0.0." + name.length() + "-" + name).setType(type).setHostname(name)
                .setIp("10.0.0." + name.length()).setPort(4000).setDownloadPort(4005).setOs("linux").setPlatform("ubuntu")
                .setPlatformFamily("debian").setPlatformVersion("24.04").setKernelVersion("6.8.0")
                .setCpu(CPU.newBuilder().setLogicalCount(8).setPhysicalCount(4).setPercent(12.5))
                .setMemory(Memory.newBuilder().setTotal(16L << 30).setAvailable(8L << 30))
                .setNetwork(Network.newBuilder().setIdc("idc-1").setLocation("cn|hz").setMaxTxBandwidth(10_000_000_000L))
                .setBuild(Build.newBuilder().setGitVersion("v1.0.0").setRustVersion("1.85").setPlatform("x86_64-unknown-linux-gnu"))
                .build();
        scheduler.announceHost(AnnounceHostRequest.newBuilder().setHost(host)
                .setInterval(com.google.protobuf.Duration.newBuilder().setSeconds(300)).build());
        return host;
    }

    /**
     * The download dfdaemon registers: after its origin stat it sets actual_content_length/piece_length/piece_count
     * (dragonfly-client/src/grpc/dfdaemon_download.rs, download_task) and always a concurrent_piece_count.
     */
    private static Download.Builder download(long contentLength) {
        return download().setActualContentLength(contentLength).setActualPieceLength(4 * MIB)
                .setActualPieceCount((contentLength + 4 * MIB - 1) / (4 * MIB));
    }

    private static Download.Builder download() {
        return Download.newBuilder().setUrl(URL).setType(TaskType.STANDARD).setTag("release").setApplication("ci")
                .setPriority(Priority.LEVEL0).setOutputPath("/tmp/out.bin").setConcurrentPieceCount(8);
    }

    private static Piece piece(int number, String parentId) {
        Piece.Builder b = Piece.newBuilder().setNumber(number).setOffset(number * 4 * MIB).setLength(4 * MIB)
                .setDigest("crc32:" + (1000 + number)).setCost(com.google.protobuf.Duration.newBuilder().setNanos(40_000_000))
                .setCreatedAt(Timestamp.newBuilder().setSeconds(1_767_225_600));
        return parentId == null ? b.setTrafficType(TrafficType.BACK_TO_SOURCE).build()
                : b.setParentId(parentId).setTrafficType(TrafficType.REMOTE_PEER).build();
    }

    private Task statTask() {
        return scheduler.statTask(StatTaskRequest.newBuilder().setTaskId(TASK).build());
    }

    private Peer statPeer(RustPeer p) {
        return scheduler.statPeer(StatPeerRequest.newBuilder().setHostId(p.host.getId()).setTaskId(TASK).setPeerId(p.id).build());
    }

    /** One peer's AnnouncePeer stream, its requests enveloped as dfdaemon envelopes them. */
    private final class RustPeer {
        final Host host;
        final String id;
        final BlockingQueue<AnnouncePeerResponse> answers = new LinkedBlockingQueue<>();
        final AtomicReference<Throwable> ended = new AtomicReference<>();
        final StreamObserver<AnnouncePeerRequest> requests;

        RustPeer(Host host, String id) {
            this.host = host;
            this.id = host.getIp() + "-" + host.getHostname() + "-" + id;
            requests = SchedulerGrpc.newStub(channel).announcePeer(new StreamObserver<>() {
                @Override
                public void onNext(AnnouncePeerResponse value) {
                    answers.add(value);
                }

                @Override
                public void onError(Throwable t) {
                    ended.set(t);
                }

                @Override
                public void onCompleted() {
                    ended.set(new IllegalStateException("completed"));
                }
            });
        }

        RustPeer send(AnnouncePeerRequest.Builder r) {
            requests.onNext(r.setHostId(host.getId()).setTaskId(TASK).setPeerId(id).build());
            return this;
        }

        /**
         * Registers and, as the Rust client does on the answer (resource/task.rs download_partial_with_scheduler),
         * reports DownloadPeerStarted for parents or DownloadPeerBackToSourceStarted for the source.
         */
        AnnouncePeerResponse register(Download.Builder download) {
            send(AnnouncePeerRequest.newBuilder().setRegisterPeerRequest(RegisterPeerRequest.newBuilder().setDownload(download)));
            AnnouncePeerResponse r = answer();
            if (r.hasNormalTaskResponse()) {
                started();
            } else if (r.hasNeedBackToSourceResponse()) {
                send(AnnouncePeerRequest.newBuilder().setDownloadPeerBackToSourceStartedRequest(
                        DownloadPeerBackToSourceStartedRequest.getDefaultInstance()));
            }
            return r;
        }

        AnnouncePeerResponse answer() {
            await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(5)).until(() -> !answers.isEmpty() || ended.get() != null);
            assertThat(ended.get()).as("stream ended").isNull();
            return answers.poll();
        }

        Status endedWith() {
            await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(5)).until(() -> ended.get() != null);
            return Status.fromThrowable(ended.get());
        }

        /** NeedBackToSource answered: BackToSourceStarted, every piece from the source, BackToSourceFinished. */
        void downloadFromSource(int pieces) {
            send(AnnouncePeerRequest.newBuilder().setDownloadPeerBackToSourceStartedRequest(
                    DownloadPeerBackToSourceStartedRequest.getDefaultInstance()));
            for (int n = 0; n < pieces; n++) {
                send(AnnouncePeerRequest.newBuilder().setDownloadPieceBackToSourceFinishedRequest(
                        DownloadPieceBackToSourceFinishedRequest.newBuilder().setPiece(piece(n, null))));
            }
            send(AnnouncePeerRequest.newBuilder().setDownloadPeerBackToSourceFinishedRequest(
                    DownloadPeerBackToSourceFinishedRequest.getDefaultInstance()));
        }

        /** NormalTask answered: Started, every piece from {@code parent}, Finished (no fields). */
        void downloadFrom(String parent, int pieces) {
            started();
            for (int n = 0; n < pieces; n++) {
                send(AnnouncePeerRequest.newBuilder().setDownloadPieceFinishedRequest(
                        DownloadPieceFinishedRequest.newBuilder().setPiece(piece(n, parent))));
            }
            send(AnnouncePeerRequest.newBuilder().setDownloadPeerFinishedRequest(DownloadPeerFinishedRequest.getDefaultInstance()));
        }

        void started() {
            send(AnnouncePeerRequest.newBuilder().setDownloadPeerStartedRequest(DownloadPeerStartedRequest.getDefaultInstance()));
        }
    }

    private static List<String> candidateIds(AnnouncePeerResponse r) {
        assertThat(r.hasNormalTaskResponse()).as("normal task response: %s", r).isTrue();
        return r.getNormalTaskResponse().getCandidateParentsList().stream().map(Peer::getId).toList();
    }

    // handleResource stores actual_content_length/piece_count on a new task; Task.SizeScope (resource/standard/task.go)
    // ranks 10 MiB in 3 pieces NORMAL; the task is Running once registered (TaskEventDownload).
    @Test
    void theRegistrantsActualLengthIsStoredOnTheTask() {
        RustPeer a = new RustPeer(announce("a", 0), "1");
        assertThat(a.register(download(10 * MIB)).hasNeedBackToSourceResponse()).isTrue();

        Task task = statTask();
        assertThat(task.getContentLength()).isEqualTo(10 * MIB);
        assertThat(task.getPieceCount()).isEqualTo(3);
        assertThat(task.getSizeScope()).isEqualTo(SizeScope.NORMAL);
        assertThat(task.getState()).isEqualTo("Running");
        assertThat(task.getPeerCount()).isEqualTo(1);
        assertThat(task.getUrl()).isEqualTo(URL);
        assertThat(task.getTag()).isEqualTo("release");
        assertThat(task.getApplication()).isEqualTo("ci");
    }

    // handleRegisterPeerRequest, SizeScope_EMPTY: EmptyTaskResponse and the peer ReceivedEmpty (peer.go FSM);
    // dfdaemon then sends Started and Finished (task.rs, download_partial_with_scheduler).
    @Test
    void aTaskOfLengthZeroIsAnsweredEmpty() {
        RustPeer a = new RustPeer(announce("a", 0), "1");
        assertThat(a.register(download(0)).hasEmptyTaskResponse()).isTrue();
        assertThat(statPeer(a).getState()).isEqualTo("ReceivedEmpty");
        assertThat(statTask().getSizeScope()).isEqualTo(SizeScope.EMPTY);

        a.started();
        assertThat(statPeer(a).getState()).isEqualTo("Running");
        a.send(AnnouncePeerRequest.newBuilder().setDownloadPeerFinishedRequest(DownloadPeerFinishedRequest.getDefaultInstance()));
        assertThat(statPeer(a).getState()).isEqualTo("Succeeded");
    }

    // Pollen's rule where Dragonfly's handleResource would store an unset (proto3 optional) actual_content_length
    // as 0 and answer EMPTY: unset is unknown, the task is scheduled, and the first length reported is kept.
    @Test
    void aRegistrationWithoutALengthLeavesItUnknownAndTheFirstReportedLengthIsKept() {
        RustPeer a = new RustPeer(announce("a", 0), "1");
        assertThat(a.register(download()).hasNeedBackToSourceResponse()).isTrue();
        Task unknown = statTask();
        assertThat(unknown.getContentLength()).isZero();
        assertThat(unknown.getSizeScopeValue()).isEqualTo(TaskRecord.SIZE_SCOPE_UNKNOWN);
        assertThat(unknown.getState()).isEqualTo("Running");

        RustPeer b = new RustPeer(announce("bb", 0), "2");
        assertThat(candidateIds(b.register(download(10 * MIB)))).containsExactly(a.id);
        RustPeer c = new RustPeer(announce("ccc", 0), "3");
        c.register(download(20 * MIB));
        assertThat(statTask().getContentLength()).isEqualTo(10 * MIB);
        assertThat(statTask().getPieceCount()).isEqualTo(3);
    }

    // handleRegisterPeerRequest: download.need_back_to_source sets peer.NeedBackToSource, and
    // ScheduleCandidateParents (scheduling/scheduling.go) answers NeedBackToSourceResponse "peer's NeedBackToSource
    // is true" even though a parent could serve.
    @Test
    void aPeerThatAsksForTheSourceIsSentThereWithADescription() {
        RustPeer a = new RustPeer(announce("a", 0), "1");
        a.register(download(10 * MIB));
        a.downloadFromSource(3);

        RustPeer b = new RustPeer(announce("bb", 0), "2");
        AnnouncePeerResponse r = b.register(download(10 * MIB).setNeedBackToSource(true));
        assertThat(r.hasNeedBackToSourceResponse()).isTrue();
        assertThat(r.getNeedBackToSourceResponse().getDescription()).isEqualTo("peer's NeedBackToSource is true");
    }

    // The whole sequence, then StatTask: handleDownloadPeerBackToSourceFinishedRequest makes the task Succeeded, only
    // DownloadPieceBackToSourceFinished pieces are stored (Task.StorePiece) and StatTask returns them with the length.
    @Test
    void aTaskTwoPeersFinishedReportsItsLengthPiecesAndSucceeded() {
        RustPeer a = new RustPeer(announce("a", 0), "1");
        assertThat(a.register(download(10 * MIB)).hasNeedBackToSourceResponse()).isTrue();
        a.downloadFromSource(3);
        assertThat(statTask().getState()).isEqualTo("Succeeded");

        RustPeer b = new RustPeer(announce("bb", 0), "2");
        assertThat(candidateIds(b.register(download(10 * MIB)))).containsExactly(a.id);
        b.downloadFrom(a.id, 3);

        Task task = statTask();
        assertThat(task.getContentLength()).isEqualTo(10 * MIB);
        assertThat(task.getPieceCount()).isEqualTo(3);
        assertThat(task.getState()).isEqualTo("Succeeded");
        assertThat(task.getPeerCount()).isEqualTo(2);
        assertThat(task.getPiecesList()).extracting(Piece::getNumber).containsExactly(0, 1, 2);
        assertThat(task.getPieces(1)).isEqualTo(piece(1, null));
        assertThat(statPeer(a).getState()).isEqualTo("Succeeded");
        assertThat(statPeer(b).getState()).isEqualTo("Succeeded");
        // AnnouncePeer returns nil after DownloadPeer(BackToSource)Finished: the call ends OK, and the Rust client
        // waits for that end (resource/task.rs, in_stream_tx.closed()) before it moves on.
        a.endedWith();
        b.endedWith();
        assertThat(a.ended.get()).as("a's call ended OK, not with an error").hasMessage("completed");
        assertThat(b.ended.get()).hasMessage("completed");
    }

    // handleRegisterPeerRequest: download.metadata_only (a Rust seed asked for a task it holds, dfdaemon_upload.rs
    // download_task) gets MetadataOnlyResponse with no scheduling; its Started and Finished then make it a parent.
    @Test
    void aPeerThatOnlyAnnouncesWhatItHoldsIsToldSoAndThenServes() {
        RustPeer seed = new RustPeer(announce("s", 1), "1");
        AnnouncePeerResponse r = seed.register(download(10 * MIB).setMetadataOnly(true));
        assertThat(r.hasMetadataOnlyResponse()).as("%s", r).isTrue();
        assertThat(statPeer(seed).getState()).isEqualTo("ReceivedNormal");
        seed.downloadFrom(null, 0);

        RustPeer b = new RustPeer(announce("bb", 0), "2");
        assertThat(candidateIds(b.register(download(10 * MIB)))).containsExactly(seed.id);
    }

    // A Rust peer that failed waits for the server's end of the stream and never half-closes it; Dragonfly's peer GC
    // (peer_manager.go RunGC, every 10 s) then drops the Failed peer. Pollen forgets it after as long.
    @Test
    void aFailedPeerIsForgottenSoonAfterItsStreamEnds() {
        RustPeer a = new RustPeer(announce("a", 0), "1");
        a.register(download(10 * MIB));
        a.send(AnnouncePeerRequest.newBuilder().setDownloadPeerFailedRequest(
                DownloadPeerFailedRequest.newBuilder().setDescription("unknown download failed")));
        a.endedWith();
        assertThat(statPeer(a).getState()).isEqualTo("Failed");

        await().atMost(SchedulerService.FAILED_PEER_TTL.plusSeconds(5)).untilAsserted(() ->
                assertThatThrownBy(() -> statPeer(a)).isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND)));
    }

    // constructSuccessNormalTaskResponse: each candidate carries its own FSM state, its cost and times, the task
    // (id, type, url, tag, application, length, piece count, size scope, state, peer count, times) and its host.
    @Test
    void candidateParentsCarryTheirStateTaskAndAnnouncedHost() {
        Host hostA = announce("a", 0);
        RustPeer a = new RustPeer(hostA, "1");
        a.register(download(10 * MIB));
        a.send(AnnouncePeerRequest.newBuilder().setDownloadPeerBackToSourceStartedRequest(
                DownloadPeerBackToSourceStartedRequest.getDefaultInstance()));

        RustPeer b = new RustPeer(announce("bb", 0), "2");
        Peer candidate = b.register(download(10 * MIB)).getNormalTaskResponse().getCandidateParents(0);
        assertThat(candidate.getId()).isEqualTo(a.id);
        assertThat(candidate.getState()).isEqualTo("BackToSource");
        assertThat(candidate.getHost()).isEqualTo(hostA);
        assertThat(candidate.hasCreatedAt()).isTrue();
        assertThat(candidate.hasUpdatedAt()).isTrue();
        assertThat(candidate.hasCost()).isTrue();
        Task task = candidate.getTask();
        assertThat(task.getId()).isEqualTo(TASK);
        assertThat(task.getType()).isEqualTo(TaskType.STANDARD);
        assertThat(task.getUrl()).isEqualTo(URL);
        assertThat(task.getTag()).isEqualTo("release");
        assertThat(task.getApplication()).isEqualTo("ci");
        assertThat(task.getContentLength()).isEqualTo(10 * MIB);
        assertThat(task.getPieceCount()).isEqualTo(3);
        assertThat(task.getSizeScope()).isEqualTo(SizeScope.NORMAL);
        assertThat(task.getState()).isEqualTo("Running");
        assertThat(task.getPeerCount()).isEqualTo(2);
        assertThat(task.hasCreatedAt()).isTrue();

        a.send(AnnouncePeerRequest.newBuilder().setDownloadPeerBackToSourceFinishedRequest(
                DownloadPeerBackToSourceFinishedRequest.getDefaultInstance()));
        RustPeer c = new RustPeer(announce("ccc", 0), "3");
        Peer finished = c.register(download(10 * MIB)).getNormalTaskResponse().getCandidateParentsList().stream()
                .filter(p -> p.getId().equals(a.id)).findFirst().orElseThrow();
        assertThat(finished.getState()).isEqualTo("Succeeded");
        // c's registration fired TaskEventDownload, which moves a Succeeded task back to Running (task.go FSM)
        assertThat(finished.getTask().getState()).isEqualTo("Running");
    }

    // Dragonfly sends uint64(-1) for an unknown length (constructSuccessNormalTaskResponse); Pollen sends 0 with
    // SizeScope UNKNOW (4), so neither a Rust peer nor a Pollen child takes an unknown length for a real one.
    @Test
    void aCandidateOfATaskOfUnknownLengthCarriesNoLength() {
        RustPeer a = new RustPeer(announce("a", 0), "1");
        a.register(download());
        RustPeer b = new RustPeer(announce("bb", 0), "2");
        Task task = b.register(download()).getNormalTaskResponse().getCandidateParents(0).getTask();
        assertThat(task.getContentLength()).isZero();
        assertThat(task.getSizeScopeValue()).isEqualTo(TaskRecord.SIZE_SCOPE_UNKNOWN);
    }

    // handleDownloadPeerBackToSourceFailedRequest: the peer Failed, task.ContentLength back to -1 and the task Failed;
    // the next registrant starts it Running again (TaskEventDownload from Failed).
    @Test
    void aFailedSourceDownloadFailsTheTaskAndForgetsItsLength() {
        RustPeer a = new RustPeer(announce("a", 0), "1");
        a.register(download(10 * MIB));
        a.send(AnnouncePeerRequest.newBuilder().setDownloadPeerBackToSourceStartedRequest(
                DownloadPeerBackToSourceStartedRequest.getDefaultInstance()));
        a.send(AnnouncePeerRequest.newBuilder().setDownloadPeerBackToSourceFailedRequest(
                DownloadPeerBackToSourceFailedRequest.newBuilder().setDescription("not all pieces are downloaded from source")));
        Task failed = statTask();
        assertThat(failed.getState()).isEqualTo("Failed");
        assertThat(failed.getContentLength()).isZero();
        assertThat(failed.getSizeScopeValue()).isEqualTo(TaskRecord.SIZE_SCOPE_UNKNOWN);
        assertThat(statPeer(a).getState()).isEqualTo("Failed");

        RustPeer b = new RustPeer(announce("bb", 0), "2");
        b.register(download(12 * MIB));
        assertThat(statTask().getState()).isEqualTo("Running");
        assertThat(statTask().getContentLength()).isEqualTo(12 * MIB);
    }

    // StatPeer: the FSM's strings (peer.go) and the full peer with its task and host; NotFound "peer %s not found".
    @Test
    void statPeerAnswersDragonflysStateStringsWithTaskAndHost() {
        Host hostA = announce("a", 0);
        RustPeer a = new RustPeer(hostA, "1");
        a.send(AnnouncePeerRequest.newBuilder().setRegisterPeerRequest(RegisterPeerRequest.newBuilder()
                .setDownload(download(10 * MIB))));
        a.answer();
        assertThat(statPeer(a).getState()).isEqualTo("ReceivedNormal");
        a.started();
        Peer running = statPeer(a);
        assertThat(running.getState()).isEqualTo("Running");
        assertThat(running.getHost()).isEqualTo(hostA);
        assertThat(running.getTask().getContentLength()).isEqualTo(10 * MIB);
        assertThat(running.getTask().getState()).isEqualTo("Running");
        assertThat(running.getConcurrentPieceCount()).isEqualTo(8);
        a.send(AnnouncePeerRequest.newBuilder().setDownloadPeerFailedRequest(
                DownloadPeerFailedRequest.newBuilder().setDescription("max schedule count exceeded")));
        assertThat(statPeer(a).getState()).isEqualTo("Failed");

        assertThatThrownBy(() -> scheduler.statPeer(StatPeerRequest.newBuilder().setPeerId("nobody").build()))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
                    assertThat(e.getStatus().getDescription()).isEqualTo("peer nobody not found");
                });
        assertThatThrownBy(() -> scheduler.statTask(StatTaskRequest.newBuilder().setTaskId("none").build()))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
                    assertThat(e.getStatus().getDescription()).isEqualTo("task none not found");
                });
    }

    // Every AnnouncePeer handler first loads the peer: NotFound "peer %s not found" ends the stream (Started,
    // BackToSourceStarted, Reschedule, Finished, Failed); a piece report's error is only logged, so the stream lives.
    @Test
    void messagesFromAPeerThatNeverRegisteredAreNotFound() {
        Host host = announce("a", 0);
        List<AnnouncePeerRequest.Builder> needPeer = List.of(
                AnnouncePeerRequest.newBuilder().setDownloadPeerStartedRequest(DownloadPeerStartedRequest.getDefaultInstance()),
                AnnouncePeerRequest.newBuilder().setDownloadPeerBackToSourceStartedRequest(
                        DownloadPeerBackToSourceStartedRequest.getDefaultInstance()),
                AnnouncePeerRequest.newBuilder().setReschedulePeerRequest(ReschedulePeerRequest.getDefaultInstance()),
                AnnouncePeerRequest.newBuilder().setDownloadPeerFinishedRequest(DownloadPeerFinishedRequest.getDefaultInstance()),
                AnnouncePeerRequest.newBuilder().setDownloadPeerBackToSourceFinishedRequest(
                        DownloadPeerBackToSourceFinishedRequest.getDefaultInstance()),
                AnnouncePeerRequest.newBuilder().setDownloadPeerFailedRequest(DownloadPeerFailedRequest.getDefaultInstance()),
                AnnouncePeerRequest.newBuilder().setDownloadPeerBackToSourceFailedRequest(
                        DownloadPeerBackToSourceFailedRequest.getDefaultInstance()));
        for (int i = 0; i < needPeer.size(); i++) {
            RustPeer stranger = new RustPeer(host, "stranger-" + i);
            Status status = stranger.send(needPeer.get(i)).endedWith();
            assertThat(status.getCode()).as(needPeer.get(i).getRequestCase().name()).isEqualTo(Status.Code.NOT_FOUND);
            assertThat(status.getDescription()).isEqualTo("peer " + stranger.id + " not found");
        }

        RustPeer late = new RustPeer(host, "late");
        late.send(AnnouncePeerRequest.newBuilder().setDownloadPieceFinishedRequest(
                DownloadPieceFinishedRequest.newBuilder().setPiece(piece(0, "someone"))));
        assertThat(late.register(download(10 * MIB)).hasNeedBackToSourceResponse()).isTrue();
    }

    // AnnouncePeer's default case: FailedPrecondition "receive unknown request: ...".
    @Test
    void aRequestWithoutAKnownMessageIsFailedPrecondition() {
        RustPeer a = new RustPeer(announce("a", 0), "1");
        Status status = a.send(AnnouncePeerRequest.newBuilder()).endedWith();
        assertThat(status.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
        assertThat(status.getDescription()).startsWith("receive unknown request: ");
    }

    // handleDownloadPieceFailedRequest, temporary: peer.BlockParents.Add(parent_id); the next ScheduleCandidateParents
    // skips it (filterCandidateParents' blocklist). dfdaemon reports a piece no parent could serve with temporary=true.
    @Test
    void aTemporaryPieceFailureBlocksThatParentForTheChild() {
        RustPeer a = new RustPeer(announce("a", 0), "1");
        a.register(download(10 * MIB));
        RustPeer b = new RustPeer(announce("bb", 0), "2");
        b.register(download(10 * MIB));
        RustPeer c = new RustPeer(announce("ccc", 0), "3");
        assertThat(candidateIds(c.register(download(10 * MIB)))).containsExactlyInAnyOrder(a.id, b.id);
        c.started();
        c.send(AnnouncePeerRequest.newBuilder().setDownloadPieceFailedRequest(
                DownloadPieceFailedRequest.newBuilder().setPieceNumber(1).setParentId(a.id).setTemporary(true)));

        c.send(AnnouncePeerRequest.newBuilder().setReschedulePeerRequest(
                ReschedulePeerRequest.newBuilder().setDescription("not all pieces are downloaded from parent")));
        assertThat(candidateIds(c.answer())).containsExactly(b.id);
    }

    // Pollen's departure from ScheduleCandidateParents: Dragonfly answers a parentless reschedule with
    // NeedBackToSourceResponse while fewer than BackToSourceCount (200) peers use the origin; Pollen's limit is 1 by
    // default, so with the origin taken the answer waits (on the same stream, in the same order) for a parent.
    @Test
    void aRescheduleWithNoParentLeftIsAnsweredWithTheNextParentRatherThanTheOrigin() {
        RustPeer a = new RustPeer(announce("a", 0), "1");
        assertThat(a.register(download(10 * MIB)).hasNeedBackToSourceResponse()).isTrue();
        RustPeer b = new RustPeer(announce("bb", 0), "2");
        assertThat(candidateIds(b.register(download(10 * MIB)))).containsExactly(a.id);
        b.send(AnnouncePeerRequest.newBuilder().setReschedulePeerRequest(ReschedulePeerRequest.newBuilder()
                .addCandidateParents(Peer.newBuilder().setId(a.id)).setDescription("parent failed")));
        assertThat(b.answers).as("held, not sent to the origin a already uses").isEmpty();
        RustPeer c = new RustPeer(announce("ccc", 0), "3");
        assertThat(candidateIds(c.register(download(10 * MIB)))).containsExactlyInAnyOrder(a.id, b.id);
        assertThat(candidateIds(b.answer())).containsExactly(c.id);
    }

    // handleDownloadPieceFinishedRequest: the piece's parent (parent_id) is touched (UpdatedAt), so it reads as alive.
    @Test
    void aPieceFromAParentTouchesThatParent() {
        RustPeer a = new RustPeer(announce("a", 0), "1");
        a.register(download(10 * MIB));
        a.downloadFromSource(3);
        Timestamp before = statPeer(a).getUpdatedAt();

        RustPeer b = new RustPeer(announce("bb", 0), "2");
        b.register(download(10 * MIB));
        b.started();
        clock.advance(Duration.ofMinutes(1));
        b.send(AnnouncePeerRequest.newBuilder().setDownloadPieceFinishedRequest(
                DownloadPieceFinishedRequest.newBuilder().setPiece(piece(0, a.id))));
        assertThat(statPeer(a).getUpdatedAt().getSeconds()).isEqualTo(before.getSeconds() + 60);
    }

    // ListHosts: type unset all hosts, 0 the normal ones (RangeNormals), 1 the seeds (RangeSeeds), else none; each as
    // announced.
    @Test
    void listHostsFiltersByType() {
        Host normal = announce("a", 0);
        Host seed = announce("seed", 1);
        assertThat(scheduler.listHosts(ListHostsRequest.getDefaultInstance()).getHostsList())
                .containsExactlyInAnyOrder(normal, seed);
        assertThat(scheduler.listHosts(ListHostsRequest.newBuilder().setType(0).build()).getHostsList()).containsExactly(normal);
        assertThat(scheduler.listHosts(ListHostsRequest.newBuilder().setType(1).build()).getHostsList()).containsExactly(seed);
        assertThat(scheduler.listHosts(ListHostsRequest.newBuilder().setType(7).build()).getHostsList()).isEmpty();
    }

    // DeletePeer always answers OK; DeleteTask and DeleteHost answer NotFound "host %s not found" for an unknown
    // host; DeleteTask removes only that host's peers of the task.
    @Test
    void deletesAnswerAsDragonflysDo() {
        Host hostA = announce("a", 0);
        RustPeer a = new RustPeer(hostA, "1");
        a.register(download(10 * MIB));
        RustPeer b = new RustPeer(announce("bb", 0), "2");
        b.register(download(10 * MIB));

        scheduler.deletePeer(DeletePeerRequest.newBuilder().setPeerId("nobody").build());
        scheduler.deleteTask(DeleteTaskRequest.newBuilder().setHostId(hostA.getId()).setTaskId(TASK).build());
        assertThat(statTask().getPeerCount()).isEqualTo(1);
        assertThat(statPeer(b).getId()).isEqualTo(b.id);
        assertThatThrownBy(() -> statPeer(a)).isInstanceOf(StatusRuntimeException.class);

        for (Runnable call : List.<Runnable>of(
                () -> scheduler.deleteTask(DeleteTaskRequest.newBuilder().setHostId("ghost").setTaskId(TASK).build()),
                () -> scheduler.deleteHost(DeleteHostRequest.newBuilder().setHostId("ghost").build()))) {
            assertThatThrownBy(call::run).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
                assertThat(e.getStatus().getDescription()).isEqualTo("host ghost not found");
            });
        }
    }
}
