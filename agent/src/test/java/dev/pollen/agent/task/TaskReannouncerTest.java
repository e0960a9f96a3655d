package dev.pollen.agent.task;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.storage.StoredTask;
import dev.pollen.agent.storage.TaskMetadata;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Peer;
import dev.pollen.proto.scheduler.v2.AnnounceHostRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerRequest.RequestCase;
import dev.pollen.proto.scheduler.v2.AnnouncePeerResponse;
import dev.pollen.proto.scheduler.v2.MetadataOnlyResponse;
import dev.pollen.proto.scheduler.v2.SchedulerGrpc;
import dev.pollen.proto.scheduler.v2.StatPeerRequest;
import dev.pollen.scheduler.client.SchedulerClient;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent toward a scheduler that forgot it (a restart: Dragonfly's scheduler, like Pollen's, keeps everything in
 * memory). The scheduler answers as Dragonfly's does (service_v2.go): a metadata_only registration gets
 * MetadataOnlyResponse; StatPeer of a peer it does not hold is NOT_FOUND; a finished report ends the stream.
 */
class TaskReannouncerTest {
    private static final long MIB = 1 << 20;
    private static final Duration INTERVAL = Duration.ofMillis(200);

    @TempDir
    Path dir;

    private Storage storage;
    private Server scheduler;
    private DragonflyLikeScheduler service;
    private SchedulerClient client;

    /** What a Dragonfly scheduler needs for this: hosts, metadata-only registrations, StatPeer of what it holds. */
    private static final class DragonflyLikeScheduler extends SchedulerGrpc.SchedulerImplBase {
        final Queue<AnnouncePeerRequest> received = new ConcurrentLinkedQueue<>();
        final Set<String> finishedPeers = ConcurrentHashMap.newKeySet();
        final Queue<Long> registeredAtNanos = new ConcurrentLinkedQueue<>();

        @Override
        public void announceHost(AnnounceHostRequest request, StreamObserver<com.google.protobuf.Empty> responses) {
            responses.onNext(com.google.protobuf.Empty.getDefaultInstance());
            responses.onCompleted();
        }

        @Override
        public void statPeer(StatPeerRequest request, StreamObserver<Peer> responses) {
            if (finishedPeers.contains(request.getPeerId())) {
                responses.onNext(Peer.newBuilder().setId(request.getPeerId()).setState("Succeeded").build());
                responses.onCompleted();
            } else {
                responses.onError(Status.NOT_FOUND.withDescription("peer " + request.getPeerId() + " not found").asRuntimeException());
            }
        }

        @Override
        public StreamObserver<AnnouncePeerRequest> announcePeer(StreamObserver<AnnouncePeerResponse> responses) {
            return new StreamObserver<>() {
                @Override
                public void onNext(AnnouncePeerRequest r) {
                    received.add(r);
                    switch (r.getRequestCase()) {
                        case REGISTER_PEER_REQUEST -> {
                            registeredAtNanos.add(System.nanoTime());
                            if (r.getRegisterPeerRequest().getDownload().getMetadataOnly()) {
                                responses.onNext(AnnouncePeerResponse.newBuilder()
                                        .setMetadataOnlyResponse(MetadataOnlyResponse.getDefaultInstance()).build());
                            } else {
                                responses.onError(Status.UNIMPLEMENTED.asRuntimeException());
                            }
                        }
                        case DOWNLOAD_PEER_FINISHED_REQUEST -> {
                            finishedPeers.add(r.getPeerId());
                            responses.onCompleted();
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
                }
            };
        }

        /** The registrations received, by task id. */
        Map<String, List<AnnouncePeerRequest>> byPeer() {
            return received.stream().collect(Collectors.groupingBy(AnnouncePeerRequest::getPeerId));
        }

        Set<String> announcedTasks() {
            return received.stream().filter(r -> r.getRequestCase() == RequestCase.DOWNLOAD_PEER_FINISHED_REQUEST)
                    .map(AnnouncePeerRequest::getTaskId).collect(Collectors.toSet());
        }
    }

    @AfterEach
    void tearDown() {
        if (client != null) {
            client.close();
        }
        scheduler.shutdownNow();
    }

    private void startScheduler(int port) throws IOException {
        service = new DragonflyLikeScheduler();
        scheduler = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port)).addService(service).build().start();
    }

    private void startAgent(int limit) throws IOException {
        Host host = Host.newBuilder().setId("127.0.0.1-test").setIp("127.0.0.1").build();
        client = new SchedulerClient(List.of("127.0.0.1:" + scheduler.getPort()), () -> host, INTERVAL, Clock.systemUTC());
        client.onForgetting(new TaskReannouncer(storage, client, host.getId(), limit, INTERVAL, Duration.ofSeconds(5)));
        client.start();
    }

    private static String taskId(int i) {
        return String.format("%064x", 0xabc000 + i);
    }

    /** A task on disk, finished or not, last used at {@code lastUsed}. */
    private void stored(String taskId, long length, boolean finished, Instant lastUsed) throws IOException {
        try (StoredTask t = storage.create(TaskMetadata.started(taskId, "http://origin/" + taskId, length, 4 * MIB, true, Map.of(),
                Instant.EPOCH))) {
            if (finished) {
                t.finish();
            }
            t.touch(lastUsed);
        }
    }

    @Test
    void aSchedulerThatForgotTheHostIsToldOfEveryFinishedTaskAsDragonflysDfdaemonAnnouncesAHeldOne() throws Exception {
        storage = new Storage(dir);
        stored(taskId(1), 10 * MIB, true, Instant.now());
        stored(taskId(2), 4 * MIB, true, Instant.now());
        stored(taskId(3), 0, true, Instant.now());
        stored(taskId(4), 10 * MIB, false, Instant.now());
        startScheduler(0);
        startAgent(1000);
        Set<String> finished = Set.of(taskId(1), taskId(2), taskId(3));

        // A scheduler this process never announced to knows nothing of what is on disk.
        await().atMost(Duration.ofSeconds(10)).until(() -> service.announcedTasks().equals(finished));
        assertAnnouncedAsHeld(service, Map.of(taskId(1), 3L, taskId(2), 1L, taskId(3), 0L));

        int port = scheduler.getPort();
        scheduler.shutdownNow().awaitTermination();
        startScheduler(port);

        await("the restarted scheduler to hear of every finished task").atMost(Duration.ofSeconds(10))
                .until(() -> service.announcedTasks().equals(finished));
        assertAnnouncedAsHeld(service, Map.of(taskId(1), 3L, taskId(2), 1L, taskId(3), 0L));
        // It now holds them: the next announcements find it knows this host, and nothing is announced twice.
        await().during(Duration.ofMillis(5 * INTERVAL.toMillis())).atMost(Duration.ofSeconds(5))
                .until(() -> service.byPeer().size() == 3);
    }

    @Test
    void aTaskThatFinishesAfterTheLossWasNoticedIsNotAnnouncedAgain() throws Exception {
        storage = new Storage(dir);
        stored(taskId(1), 10 * MIB, true, Instant.now());
        stored(taskId(2), 10 * MIB, false, Instant.now());
        startScheduler(0);
        Host host = Host.newBuilder().setId("127.0.0.1-test").setIp("127.0.0.1").build();
        client = new SchedulerClient(List.of("127.0.0.1:" + scheduler.getPort()), () -> host, Duration.ofMinutes(1), Clock.systemUTC());
        // A long spread: the second task finishes (and reports so on its own stream) before the round begins.
        TaskReannouncer reannouncer = new TaskReannouncer(storage, client, host.getId(), 1000, Duration.ofSeconds(1),
                Duration.ofSeconds(5));

        reannouncer.forgot("127.0.0.1:" + scheduler.getPort(), "test");
        storage.delete(taskId(2));
        stored(taskId(2), 10 * MIB, true, Instant.now());

        await().atMost(Duration.ofSeconds(10)).until(() -> service.announcedTasks().equals(Set.of(taskId(1))));
        await().during(Duration.ofMillis(1500)).atMost(Duration.ofSeconds(5))
                .until(() -> service.announcedTasks().equals(Set.of(taskId(1))));
    }

    /** Register (metadata_only, the task's actual length and pieces), Started, Finished: nothing else, in that order. */
    private static void assertAnnouncedAsHeld(DragonflyLikeScheduler service, Map<String, Long> pieceCounts) {
        for (List<AnnouncePeerRequest> peer : service.byPeer().values()) {
            assertThat(peer).extracting(AnnouncePeerRequest::getRequestCase).containsExactly(RequestCase.REGISTER_PEER_REQUEST,
                    RequestCase.DOWNLOAD_PEER_STARTED_REQUEST, RequestCase.DOWNLOAD_PEER_FINISHED_REQUEST);
            Download d = peer.get(0).getRegisterPeerRequest().getDownload();
            assertThat(d.getMetadataOnly()).isTrue();
            assertThat(d.getNeedBackToSource()).isFalse();
            assertThat(d.getUrl()).isEqualTo("http://origin/" + peer.get(0).getTaskId());
            assertThat(d.hasActualContentLength()).isTrue();
            assertThat(d.getActualPieceLength()).isEqualTo(4 * MIB);
            assertThat(d.getActualPieceCount()).isEqualTo(pieceCounts.get(peer.get(0).getTaskId()));
            assertThat(peer.get(0).getPeerId()).startsWith("127.0.0.1-test-" + peer.get(0).getTaskId().substring(0, 8) + "-");
        }
    }

    @Test
    void onlyTheMostRecentlyUsedTasksUpToTheLimitAreAnnounced() throws Exception {
        storage = new Storage(dir);
        Instant now = Instant.now();
        for (int i = 0; i < 5; i++) {
            stored(taskId(i), MIB, true, now.minusSeconds(60 * (5 - i)));
        }
        startScheduler(0);
        startAgent(2);
        await().atMost(Duration.ofSeconds(10)).until(() -> service.announcedTasks().size() == 2);
        await().during(Duration.ofMillis(3 * INTERVAL.toMillis())).atMost(Duration.ofSeconds(5))
                .until(() -> service.announcedTasks().equals(Set.of(taskId(3), taskId(4))));
    }

    @Test
    void manyTasksAreAnnouncedAtMostTwoHundredASecond() throws Exception {
        storage = new Storage(dir);
        int count = 60;
        for (int i = 0; i < count; i++) {
            stored(taskId(i), MIB, true, Instant.now());
        }
        startScheduler(0);
        startAgent(1000);
        await().atMost(Duration.ofSeconds(20)).until(() -> service.announcedTasks().size() == count);
        assertAnnouncedAsHeld(service, IntStream.range(0, count).boxed().collect(Collectors.toMap(TaskReannouncerTest::taskId, i -> 1L)));
        List<Long> at = List.copyOf(service.registeredAtNanos);
        assertThat(Duration.ofNanos(at.get(at.size() - 1) - at.get(0)))
                .isGreaterThanOrEqualTo(TaskReannouncer.SPACING.multipliedBy(count - 1));
    }
}
