package dev.pollen.scheduler;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.proto.dfdaemon.v2.DownloadPieceFinishedResponse;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskResponse;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskStartedResponse;
import dev.pollen.proto.pollen.scheduler.v1.PreheatGrpc;
import dev.pollen.proto.pollen.scheduler.v1.PreheatProgress;
import dev.pollen.proto.pollen.scheduler.v1.PreheatRequest;
import dev.pollen.proto.pollen.scheduler.v1.PreheatScope;
import dev.pollen.proto.pollen.scheduler.v1.PreheatTarget;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class PreheatServiceTest {
    private static final long PIECE = 4 << 20;

    private final MutableClock clock = new MutableClock();
    private final Cluster cluster = new Cluster(clock, SchedulingConfig.defaults());
    private final FakeTargets targets = new FakeTargets();
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private Server server;
    private ManagedChannel channel;

    /** Plays each host's DfdaemonUpload.DownloadTask: started, two pieces, done; or a failure for the hosts told to fail. */
    static final class FakeTargets implements DownloadTasks {
        record Call(String hostId, Download download, Duration deadline, long startedNanos) {
        }

        final List<Call> calls = Collections.synchronizedList(new ArrayList<>());
        final Map<String, Long> finishedNanos = new ConcurrentHashMap<>();
        final Map<String, Status> failing = new ConcurrentHashMap<>();
        final AtomicInteger inFlight = new AtomicInteger();
        final AtomicInteger maxInFlight = new AtomicInteger();
        volatile CountDownLatch gate = new CountDownLatch(0);

        @Override
        public void downloadTask(Host target, Download download, Duration deadline, StreamObserver<DownloadTaskResponse> responses) {
            calls.add(new Call(target.getId(), download, deadline, System.nanoTime()));
            maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
            Thread.ofVirtual().start(() -> {
                try {
                    gate.await();
                } catch (InterruptedException e) {
                    return;
                }
                Status failure = failing.get(target.getId());
                inFlight.decrementAndGet();
                if (failure != null) {
                    responses.onError(failure.asRuntimeException());
                    return;
                }
                String task = "task-" + download.getUrl().hashCode();
                responses.onNext(DownloadTaskResponse.newBuilder().setHostId(target.getId()).setTaskId(task)
                        .setDownloadTaskStartedResponse(DownloadTaskStartedResponse.newBuilder().setContentLength(2 * PIECE)).build());
                for (int n = 0; n < 2; n++) {
                    responses.onNext(DownloadTaskResponse.newBuilder().setHostId(target.getId()).setTaskId(task)
                            .setDownloadPieceFinishedResponse(DownloadPieceFinishedResponse.newBuilder()
                                    .setPiece(Piece.newBuilder().setNumber(n).setLength(PIECE))).build());
                }
                finishedNanos.put(target.getId() + " " + download.getUrl(), System.nanoTime());
                responses.onCompleted();
            });
        }
    }

    @BeforeEach
    void start() throws IOException {
        String name = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(name).directExecutor()
                .addService(new PreheatService(cluster, targets, executor)).build().start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    }

    @AfterEach
    void stop() {
        channel.shutdownNow();
        server.shutdownNow();
        executor.shutdownNow();
    }

    private void host(String id, boolean seed) {
        cluster.announceHost(Host.newBuilder().setId(id).setHostname(id).setIp("10.0.0." + (id.hashCode() & 0x7f)).setPort(4000)
                .setType(seed ? 1 : 0).build());
    }

    private static Download blob(int n) {
        return Download.newBuilder().setUrl("https://registry.example/v2/app/blobs/sha256:" + n)
                .putRequestHeader("Authorization", "Bearer t").setEnableTaskIdBasedBlobDigest(true).setOutputPath("/etc/passwd").build();
    }

    private static PreheatRequest request(PreheatScope scope, int count, int blobs) {
        PreheatRequest.Builder b = PreheatRequest.newBuilder().setScope(scope).setCount(count);
        for (int i = 0; i < blobs; i++) {
            b.addDownloads(blob(i));
        }
        return b.build();
    }

    /** The whole stream, and how it ended (null when OK). */
    private record Outcome(List<PreheatProgress> events, StatusRuntimeException error) {
        List<String> targetIds() {
            return events.getFirst().getTargetsChosen().getTargetsList().stream().map(PreheatTarget::getHostId).toList();
        }

        /** The kinds of event for one host and download, in order. */
        List<String> kinds(String hostId, int download) {
            List<String> kinds = new ArrayList<>();
            for (PreheatProgress p : events) {
                switch (p.getEventCase()) {
                    case DOWNLOAD_STARTED -> add(kinds, p.getDownloadStarted().getHostId(), p.getDownloadStarted().getDownload(), hostId,
                            download, "started");
                    case DOWNLOAD_PIECES -> add(kinds, p.getDownloadPieces().getHostId(), p.getDownloadPieces().getDownload(), hostId,
                            download, "pieces:" + p.getDownloadPieces().getBytesDone());
                    case DOWNLOAD_FINISHED -> add(kinds, p.getDownloadFinished().getHostId(), p.getDownloadFinished().getDownload(),
                            hostId, download, "finished");
                    case DOWNLOAD_FAILED -> add(kinds, p.getDownloadFailed().getHostId(), p.getDownloadFailed().getDownload(), hostId,
                            download, "failed:" + p.getDownloadFailed().getReason());
                    default -> {
                    }
                }
            }
            return kinds;
        }

        private static void add(List<String> kinds, String h, int d, String hostId, int download, String kind) {
            if (h.equals(hostId) && d == download) {
                kinds.add(kind);
            }
        }
    }

    private Outcome preheat(PreheatRequest request) {
        List<PreheatProgress> events = new ArrayList<>();
        try {
            PreheatGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS).preheatImage(request).forEachRemaining(events::add);
            return new Outcome(events, null);
        } catch (StatusRuntimeException e) {
            return new Outcome(events, e);
        }
    }

    @Test
    void seedPeersScopeSendsEveryBlobToEverySeedAndStreamsEachOnesProgressInOrder() {
        host("seed-a", true);
        host("seed-b", true);
        host("node-1", false);

        Outcome o = preheat(request(PreheatScope.SEED_PEERS, 0, 2));

        assertThat(o.error()).isNull();
        assertThat(o.targetIds()).containsExactly("seed-a", "seed-b");
        assertThat(o.events().getFirst().getTargetsChosen().getKnownHosts()).isEqualTo(3);
        assertThat(targets.calls).extracting(FakeTargets.Call::hostId).containsExactlyInAnyOrder("seed-a", "seed-a", "seed-b", "seed-b");
        for (String h : List.of("seed-a", "seed-b")) {
            for (int d = 0; d < 2; d++) {
                assertThat(o.kinds(h, d)).as(h + " download " + d)
                        .containsExactly("started", "pieces:" + PIECE, "pieces:" + 2 * PIECE, "finished");
            }
        }
    }

    @Test
    void unspecifiedScopeMeansSeedPeers() {
        host("seed-a", true);
        host("node-1", false);

        assertThat(preheat(request(PreheatScope.PREHEAT_SCOPE_UNSPECIFIED, 0, 1)).targetIds()).containsExactly("seed-a");
    }

    @Test
    void eachTargetGetsTheBlobsDownloadStoredOnlyWithTheTimeoutAndTheRegistrysHeaders() {
        host("seed-a", true);

        preheat(request(PreheatScope.SEED_PEERS, 0, 1).toBuilder().setTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(90))
                .build());

        Download sent = targets.calls.getFirst().download();
        assertThat(sent.hasOutputPath()).as("never a path on the target").isFalse();
        assertThat(sent.getRequestHeaderMap()).containsEntry("Authorization", "Bearer t");
        assertThat(sent.getEnableTaskIdBasedBlobDigest()).isTrue();
        assertThat(sent.getTimeout().getSeconds()).isEqualTo(90);
        assertThat(targets.calls.getFirst().deadline()).isEqualTo(Duration.ofSeconds(90));
    }

    @Test
    void allPeersScopeSendsABlobToTheOtherHostsOnlyOnceTheSeedsHaveIt() {
        host("seed-a", true);
        host("node-1", false);
        host("node-2", false);

        Outcome o = preheat(request(PreheatScope.ALL_PEERS, 0, 3));

        assertThat(o.error()).isNull();
        assertThat(o.targetIds()).containsExactly("seed-a", "node-1", "node-2");
        assertThat(targets.calls).hasSize(9);
        for (FakeTargets.Call c : targets.calls) {
            if (!c.hostId().equals("seed-a")) {
                assertThat(c.startedNanos()).as(c.hostId() + " asked for " + c.download().getUrl() + " after the seed had it")
                        .isGreaterThan(targets.finishedNanos.get("seed-a " + c.download().getUrl()));
            }
        }
    }

    @Test
    void countScopeTakesSeedsFirstAndAtMostTheHostsKnown() {
        host("node-2", false);
        host("node-1", false);
        host("seed-a", true);

        assertThat(preheat(request(PreheatScope.COUNT, 2, 1)).targetIds()).containsExactly("seed-a", "node-1");
        assertThat(preheat(request(PreheatScope.COUNT, 50, 1)).targetIds()).containsExactly("seed-a", "node-1", "node-2");
    }

    @Test
    void aFailedTargetEndsTheStreamAbortedNamingTheBlobAndTheHostWhileTheOthersFinish() {
        host("seed-a", true);
        host("seed-b", true);
        targets.failing.put("seed-b", Status.UNAVAILABLE.withDescription("origin refused"));

        Outcome o = preheat(request(PreheatScope.SEED_PEERS, 0, 2));

        assertThat(o.error()).isNotNull();
        assertThat(o.error().getStatus().getCode()).isEqualTo(Status.Code.ABORTED);
        assertThat(o.error().getStatus().getDescription())
                .startsWith("2 of 4 downloads failed: ")
                .contains("https://registry.example/v2/app/blobs/sha256:0 on seed-b (")
                .contains("https://registry.example/v2/app/blobs/sha256:1 on seed-b (")
                .contains("UNAVAILABLE: origin refused")
                .doesNotContain("seed-a");
        assertThat(o.kinds("seed-b", 0)).containsExactly("failed:UNAVAILABLE: origin refused");
        assertThat(o.kinds("seed-a", 1)).endsWith("finished");
    }

    @Test
    void noMoreDownloadTaskCallsAtOnceThanTheConcurrencyAsked() {
        host("seed-a", true);
        host("seed-b", true);
        targets.gate = new CountDownLatch(1);
        List<Outcome> outcome = new ArrayList<>();
        Thread caller = Thread.ofVirtual().start(() -> outcome.add(preheat(request(PreheatScope.SEED_PEERS, 0, 5).toBuilder()
                .setConcurrency(3).build())));

        await().atMost(Duration.ofSeconds(10)).until(() -> targets.inFlight.get() == 3);
        assertThat(targets.calls).as("calls started while three are held").hasSize(3);
        targets.gate.countDown();
        await().atMost(Duration.ofSeconds(10)).until(() -> !caller.isAlive());

        assertThat(outcome.getFirst().error()).isNull();
        assertThat(targets.calls).hasSize(10);
        assertThat(targets.maxInFlight.get()).isEqualTo(3);
    }

    @Test
    void noSeedPeerIsAFailedPreconditionThatSaysSo() {
        host("node-1", false);

        Outcome o = preheat(request(PreheatScope.SEED_PEERS, 0, 1));

        assertThat(o.error().getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
        assertThat(o.error().getStatus().getDescription()).isEqualTo("no seed peer has announced itself to this scheduler (1 hosts known)");
    }

    @Test
    void badRequestsAreInvalidArgumentsNamingTheField() {
        host("seed-a", true);
        Map<PreheatRequest, String> bad = Map.of(
                request(PreheatScope.SEED_PEERS, 0, 0), "downloads: none (expected: 1..10000)",
                request(PreheatScope.COUNT, 0, 1), "count: 0 (expected: 1..100000)",
                request(PreheatScope.COUNT, -1, 1), "count: 4294967295 (expected: 1..100000)",
                request(PreheatScope.SEED_PEERS, 3, 1), "count: 3 (expected: 0 unless scope is COUNT)",
                request(PreheatScope.SEED_PEERS, 0, 1).toBuilder().setConcurrency(100_000).build(),
                "concurrency: 100000 (expected: 0 for the default, or 1..256)",
                request(PreheatScope.SEED_PEERS, 0, 1).toBuilder().setTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(-5)).build(),
                "timeout: PT-5S (expected: more than 0, at most PT24H)",
                PreheatRequest.newBuilder().addDownloads(Download.newBuilder().setUrl("file:///etc/shadow")).build(),
                "downloads[0].url: file:///etc/shadow (expected: an http or https URL)",
                request(PreheatScope.SEED_PEERS, 0, 1).toBuilder().setScopeValue(42).build(),
                "scope: 42 (expected: SEED_PEERS, ALL_PEERS or COUNT)");
        bad.forEach((request, message) -> {
            Outcome o = preheat(request);
            assertThat(o.error()).as(message).isNotNull();
            assertThat(o.error().getStatus().getCode()).as(message).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(o.error().getStatus().getDescription()).isEqualTo(message);
        });
        assertThat(targets.calls).as("no host was asked").isEmpty();
        assertThatThrownBy(() -> PreheatService.check(request(PreheatScope.SEED_PEERS, 0, PreheatService.MAX_DOWNLOADS + 1)))
                .hasMessage("downloads: 10001 (expected: 1..10000)");
    }
}
