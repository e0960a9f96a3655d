package dev.pollen.agent.peer;

import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Peer;
import dev.pollen.proto.dfdaemon.v2.DfdaemonUploadGrpc;
import dev.pollen.proto.dfdaemon.v2.SyncPiecesRequest;
import dev.pollen.proto.dfdaemon.v2.SyncPiecesResponse;
import dev.pollen.proto.scheduler.v2.AnnounceHostRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerResponse;
import dev.pollen.proto.scheduler.v2.NeedBackToSourceResponse;
import dev.pollen.proto.scheduler.v2.NormalTaskResponse;
import dev.pollen.proto.scheduler.v2.SchedulerGrpc;
import dev.pollen.scheduler.client.SchedulerClient;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * A scheduler that answers from a script, as Dragonfly's answers (one answer per RegisterPeer and ReschedulePeer, in
 * order, on the peer's stream), beside parents that announce nothing and keep their SyncPieces streams open. It
 * records what it hears in one sequence, and can break every open stream as a scheduler that went away does.
 */
final class ScriptedScheduler implements AutoCloseable {
    /** What the scheduler heard: the stream it came on (1, 2, ...; 0 for an AnnounceHost) and the message. */
    record Heard(int stream, AnnouncePeerRequest request) {
        AnnouncePeerRequest.RequestCase kind() {
            return request.getRequestCase();
        }
    }

    final Queue<Heard> heard = new ConcurrentLinkedQueue<>();
    /** Answers to ReschedulePeer, in order; once they run out, {@link #rescheduleDefault}. */
    final Queue<AnnouncePeerResponse> rescheduleAnswers = new ConcurrentLinkedQueue<>();
    volatile Function<Integer, AnnouncePeerResponse> rescheduleDefault = n -> nobody();
    volatile AnnouncePeerResponse registerAnswer = nobody();
    /** Peer ids that registered on some stream: with {@link #refusesKnownPeers}, a second registration fails. */
    private final Set<String> registeredPeers = ConcurrentHashMap.newKeySet();
    /** Dragonfly's scheduler that still knows a peer: its state machine refuses a second RegisterNormal (INTERNAL). */
    volatile boolean refusesKnownPeers;
    private final AtomicInteger streams = new AtomicInteger();
    private final AtomicInteger reschedules = new AtomicInteger();
    private final List<StreamObserver<AnnouncePeerResponse>> open = new CopyOnWriteArrayList<>();
    /** Parents' SyncPieces streams: opened, and cancelled by the child. */
    final AtomicInteger parentStreams = new AtomicInteger();
    final AtomicInteger parentStreamsCancelled = new AtomicInteger();
    private final List<StreamObserver<SyncPiecesResponse>> parentObservers = new CopyOnWriteArrayList<>();
    private final Server scheduler;
    private final Server parents;
    final SchedulerClient client;

    ScriptedScheduler(Duration announceInterval) throws IOException {
        scheduler = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(new Service()).build().start();
        parents = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(new SilentParent()).build().start();
        Host host = Host.newBuilder().setId("127.0.0.1-child").setIp("127.0.0.1").build();
        client = new SchedulerClient(List.of("127.0.0.1:" + scheduler.getPort()), () -> host, announceInterval, Clock.systemUTC());
        client.start();
    }

    /** A parent on the silent parents' server. */
    Peer parent(String id) {
        return Peer.newBuilder().setId(id).setState("Running").setHost(Host.newBuilder().setId("10.0.0.1-" + id)
                .setIp("127.0.0.1").setPort(parents.getPort()).setDownloadPort(1)).build();
    }

    AnnouncePeerResponse parents(String... ids) {
        return AnnouncePeerResponse.newBuilder().setNormalTaskResponse(NormalTaskResponse.newBuilder()
                .addAllCandidateParents(Arrays.stream(ids).map(this::parent).toList())).build();
    }

    static AnnouncePeerResponse nobody() {
        return AnnouncePeerResponse.newBuilder().setNeedBackToSourceResponse(NeedBackToSourceResponse.newBuilder()
                .setDescription("no parent")).build();
    }

    int reschedules() {
        return reschedules.get();
    }

    List<Heard> onStream(int stream) {
        return heard.stream().filter(h -> h.stream() == stream).toList();
    }

    /** Position in {@link #heard} of the first message matching, -1 if none. */
    int indexOf(java.util.function.Predicate<Heard> which) {
        List<Heard> all = new ArrayList<>(heard);
        for (int i = 0; i < all.size(); i++) {
            if (which.test(all.get(i))) {
                return i;
            }
        }
        return -1;
    }

    /** Ends every open AnnouncePeer stream as a scheduler process that went away does (UNAVAILABLE). */
    void breakStreams() {
        List<StreamObserver<AnnouncePeerResponse>> ending = new ArrayList<>(open);
        open.removeAll(ending);
        ending.forEach(o -> o.onError(Status.UNAVAILABLE.withDescription("scheduler went away").asRuntimeException()));
    }

    /** Fails the oldest open SyncPieces stream: its parent is gone for the child. */
    void failOneParent() {
        StreamObserver<SyncPiecesResponse> first = parentObservers.remove(0);
        first.onError(Status.NOT_FOUND.withDescription("task not found").asRuntimeException());
    }

    private final class Service extends SchedulerGrpc.SchedulerImplBase {
        @Override
        public void announceHost(AnnounceHostRequest request, StreamObserver<com.google.protobuf.Empty> responses) {
            heard.add(new Heard(0, AnnouncePeerRequest.getDefaultInstance()));
            responses.onNext(com.google.protobuf.Empty.getDefaultInstance());
            responses.onCompleted();
        }

        @Override
        public StreamObserver<AnnouncePeerRequest> announcePeer(StreamObserver<AnnouncePeerResponse> responses) {
            int stream = streams.incrementAndGet();
            open.add(responses);
            return new StreamObserver<>() {
                @Override
                public void onNext(AnnouncePeerRequest r) {
                    heard.add(new Heard(stream, r));
                    switch (r.getRequestCase()) {
                        case REGISTER_PEER_REQUEST -> {
                            if (!registeredPeers.add(r.getPeerId()) && refusesKnownPeers) {
                                open.remove(responses);
                                responses.onError(Status.INTERNAL.withDescription("event RegisterNormal inappropriate in current state Running")
                                        .asRuntimeException());
                            } else {
                                responses.onNext(registerAnswer);
                            }
                        }
                        case RESCHEDULE_PEER_REQUEST -> {
                            int n = reschedules.incrementAndGet();
                            AnnouncePeerResponse scripted = rescheduleAnswers.poll();
                            responses.onNext(scripted != null ? scripted : rescheduleDefault.apply(n));
                        }
                        default -> {
                        }
                    }
                }

                @Override
                public void onError(Throwable t) {
                    open.remove(responses);
                }

                @Override
                public void onCompleted() {
                    if (open.remove(responses)) {
                        responses.onCompleted();
                    }
                }
            };
        }
    }

    /** A parent still downloading: it announces nothing yet and keeps the stream open. */
    private final class SilentParent extends DfdaemonUploadGrpc.DfdaemonUploadImplBase {
        @Override
        public void syncPieces(SyncPiecesRequest request, StreamObserver<SyncPiecesResponse> responses) {
            parentStreams.incrementAndGet();
            parentObservers.add(responses);
            ((ServerCallStreamObserver<SyncPiecesResponse>) responses).setOnCancelHandler(parentStreamsCancelled::incrementAndGet);
        }
    }

    @Override
    public void close() {
        client.close();
        scheduler.shutdownNow();
        parents.shutdownNow();
    }

    static List<String> ids(List<Peer> peers) {
        return Collections.unmodifiableList(peers.stream().map(Peer::getId).toList());
    }
}
