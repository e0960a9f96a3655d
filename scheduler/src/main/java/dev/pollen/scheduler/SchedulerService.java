package dev.pollen.scheduler;

import com.google.protobuf.Empty;
import dev.pollen.proto.common.v2.Peer;
import dev.pollen.proto.common.v2.Task;
import dev.pollen.proto.scheduler.v2.AnnounceHostRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerResponse;
import dev.pollen.proto.scheduler.v2.DeleteHostRequest;
import dev.pollen.proto.scheduler.v2.DeletePeerRequest;
import dev.pollen.proto.scheduler.v2.DeleteTaskRequest;
import dev.pollen.proto.scheduler.v2.EmptyTaskResponse;
import dev.pollen.proto.scheduler.v2.ListHostsRequest;
import dev.pollen.proto.scheduler.v2.ListHostsResponse;
import dev.pollen.proto.scheduler.v2.MetadataOnlyResponse;
import dev.pollen.proto.scheduler.v2.NeedBackToSourceResponse;
import dev.pollen.proto.scheduler.v2.NormalTaskResponse;
import dev.pollen.proto.scheduler.v2.SchedulerGrpc;
import dev.pollen.proto.scheduler.v2.StatPeerRequest;
import dev.pollen.proto.scheduler.v2.StatTaskRequest;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** {@code scheduler.v2.Scheduler}: what peers use of it. Bad messages end their stream, never the scheduler. */
final class SchedulerService extends SchedulerGrpc.SchedulerImplBase {
    private static final Logger log = LoggerFactory.getLogger(SchedulerService.class);

    /** How often a held peer is scheduled again; the hold itself is bounded by SchedulingConfig.holdTimeout. */
    private static final long HELD_POLL_MILLIS = SchedulingCore.HELD_POLL.toMillis();
    /** How long a failed peer stays visible (StatPeer "Failed"): Dragonfly's peer GC runs every 10 s. */
    static final Duration FAILED_PEER_TTL = Duration.ofSeconds(10);

    private final Cluster cluster;
    private final SeedTrigger seeds;
    private final ScheduledExecutorService timer;
    private final Decisions decisions;

    SchedulerService(Cluster cluster, SeedTrigger seeds, ScheduledExecutorService timer, Decisions decisions) {
        this.cluster = cluster;
        this.seeds = seeds;
        this.timer = timer;
        this.decisions = decisions;
    }

    /**
     * One peer's stream. As in Dragonfly (service_v2.go, AnnouncePeer) a handler's error ends the stream with its
     * status, except for the piece reports, whose errors Dragonfly only logs. After a terminal report (Finished,
     * Failed) the stream ends OK; a failed peer is forgotten a little later, as Dragonfly's peer GC does.
     */
    @Override
    public StreamObserver<AnnouncePeerRequest> announcePeer(StreamObserver<AnnouncePeerResponse> responses) {
        return new StreamObserver<>() {
            private String peerId;
            private boolean ended;

            @Override
            public void onNext(AnnouncePeerRequest request) {
                if (ended) {
                    return;
                }
                if (request.getPeerId().isEmpty() || request.getTaskId().isEmpty() || request.getHostId().isEmpty()) {
                    end(Status.INVALID_ARGUMENT.withDescription("AnnouncePeerRequest needs host_id, task_id and peer_id"));
                    return;
                }
                peerId = request.getPeerId();
                try {
                    handle(request, responses);
                    if (isTerminal(request.getRequestCase())) {
                        // As Dragonfly's AnnouncePeer loop returns nil after these: the call ends OK. The Rust client
                        // waits for that end (resource/task.rs, in_stream_tx.closed()) before it moves on.
                        ended = true;
                        synchronized (responses) {
                            responses.onCompleted();
                        }
                        if (isFailure(request.getRequestCase())) {
                            // Nobody half-closes a stream the server ended: without this a failed peer would stay.
                            String failed = peerId;
                            timer.schedule(() -> cluster.left(failed), FAILED_PEER_TTL.toMillis(), TimeUnit.MILLISECONDS);
                        }
                    }
                } catch (Cluster.PeerNotFoundException e) {
                    end(Status.NOT_FOUND.withDescription(e.getMessage()));
                } catch (UnknownRequestException e) {
                    end(Status.FAILED_PRECONDITION.withDescription(e.getMessage()));
                } catch (RuntimeException e) {
                    log.warn("event=announce_failed peer={} error=\"{}\"", peerId, e.toString());
                    end(Status.INTERNAL.withDescription(e.toString()));
                }
            }

            private void end(Status status) {
                ended = true;
                synchronized (responses) {
                    try {
                        responses.onError(status.asRuntimeException());
                    } catch (IllegalStateException closed) {
                        // the peer went away first
                    }
                }
            }

            @Override
            public void onError(Throwable t) {
                if (peerId != null) {
                    cluster.left(peerId);
                }
            }

            @Override
            public void onCompleted() {
                if (peerId != null) {
                    cluster.left(peerId);
                }
                if (!ended) {
                    synchronized (responses) {
                        responses.onCompleted();
                    }
                }
            }
        };
    }

    private static boolean isFailure(AnnouncePeerRequest.RequestCase c) {
        return c == AnnouncePeerRequest.RequestCase.DOWNLOAD_PEER_FAILED_REQUEST
                || c == AnnouncePeerRequest.RequestCase.DOWNLOAD_PEER_BACK_TO_SOURCE_FAILED_REQUEST;
    }

    /** A peer's last report: finished or failed, from parents or from the source. */
    private static boolean isTerminal(AnnouncePeerRequest.RequestCase c) {
        return switch (c) {
            case DOWNLOAD_PEER_FINISHED_REQUEST, DOWNLOAD_PEER_BACK_TO_SOURCE_FINISHED_REQUEST, DOWNLOAD_PEER_FAILED_REQUEST,
                 DOWNLOAD_PEER_BACK_TO_SOURCE_FAILED_REQUEST -> true;
            default -> false;
        };
    }

    /** A request whose oneof this scheduler does not know (or none): Dragonfly answers FailedPrecondition. */
    private static final class UnknownRequestException extends RuntimeException {
        UnknownRequestException(AnnouncePeerRequest.RequestCase c) {
            super("receive unknown request: " + c, null, false, false);
        }
    }

    private void handle(AnnouncePeerRequest r, StreamObserver<AnnouncePeerResponse> responses) {
        String peer = r.getPeerId();
        switch (r.getRequestCase()) {
            case REGISTER_PEER_REQUEST -> {
                long start = System.nanoTime();
                var download = r.getRegisterPeerRequest().getDownload();
                Cluster.Decision d = cluster.register(r.getHostId(), r.getTaskId(), peer, download);
                if (d instanceof Cluster.Decision.Held held) {
                    if (held.trigger() != null) {
                        seeds.trigger(held.trigger(), r.getTaskId(), download);
                    }
                    awaitHeld(peer, responses);
                    return;
                }
                send(responses, response(d));
                decisions.decided(d, System.nanoTime() - start);
            }
            case DOWNLOAD_PEER_STARTED_REQUEST -> cluster.started(peer, false);
            case DOWNLOAD_PEER_BACK_TO_SOURCE_STARTED_REQUEST -> cluster.started(peer, true);
            case RESCHEDULE_PEER_REQUEST -> {
                long start = System.nanoTime();
                Cluster.Decision d = cluster.reschedule(peer,
                        r.getReschedulePeerRequest().getCandidateParentsList().stream().map(Peer::getId).toList());
                if (d instanceof Cluster.Decision.Held) {
                    awaitHeld(peer, responses);
                    return;
                }
                send(responses, response(d));
                decisions.decided(d, System.nanoTime() - start);
            }
            case DOWNLOAD_PIECE_FINISHED_REQUEST ->
                    cluster.pieceFinished(peer, r.getDownloadPieceFinishedRequest().getPiece(), false);
            case DOWNLOAD_PIECE_BACK_TO_SOURCE_FINISHED_REQUEST ->
                    cluster.pieceFinished(peer, r.getDownloadPieceBackToSourceFinishedRequest().getPiece(), true);
            case DOWNLOAD_PIECE_FAILED_REQUEST -> cluster.pieceFailed(peer, r.getDownloadPieceFailedRequest().getParentId(),
                    r.getDownloadPieceFailedRequest().getTemporary());
            case DOWNLOAD_PIECE_BACK_TO_SOURCE_FAILED_REQUEST -> log.info("event=piece_back_to_source_failed peer={}", peer);
            case DOWNLOAD_PEER_FINISHED_REQUEST -> cluster.finished(peer, false);
            case DOWNLOAD_PEER_BACK_TO_SOURCE_FINISHED_REQUEST -> cluster.finished(peer, true);
            case DOWNLOAD_PEER_FAILED_REQUEST -> cluster.failed(peer, false);
            case DOWNLOAD_PEER_BACK_TO_SOURCE_FAILED_REQUEST -> cluster.failed(peer, true);
            case REQUEST_NOT_SET -> throw new UnknownRequestException(r.getRequestCase());
        }
    }

    /** Answers the held peer once a parent serves the task or it may go to the source (Cluster.scheduleHeld). */
    private void awaitHeld(String peer, StreamObserver<AnnouncePeerResponse> responses) {
        timer.schedule(() -> {
            Cluster.Decision d = cluster.scheduleHeld(peer);
            if (d == null) {
                awaitHeld(peer, responses);
            } else {
                send(responses, response(d));
                decisions.answered(d);
            }
        }, HELD_POLL_MILLIS, TimeUnit.MILLISECONDS);
    }

    /** gRPC stream observers are not thread-safe, and answers come from the timer too. */
    private static void send(StreamObserver<AnnouncePeerResponse> responses, AnnouncePeerResponse response) {
        synchronized (responses) {
            try {
                responses.onNext(response);
            } catch (IllegalStateException | io.grpc.StatusRuntimeException closed) {
                // the peer went away while it waited
            }
        }
    }

    private static AnnouncePeerResponse response(Cluster.Decision d) {
        return switch (d) {
            case Cluster.Decision.Parents p -> {
                NormalTaskResponse.Builder normal = NormalTaskResponse.newBuilder();
                p.parents().forEach(parent -> normal.addCandidateParents(parent.candidate()));
                yield AnnouncePeerResponse.newBuilder().setNormalTaskResponse(normal).build();
            }
            case Cluster.Decision.BackToSource b -> AnnouncePeerResponse.newBuilder()
                    .setNeedBackToSourceResponse(NeedBackToSourceResponse.newBuilder().setDescription(b.reason())).build();
            case Cluster.Decision.MetadataOnly m -> AnnouncePeerResponse.newBuilder()
                    .setMetadataOnlyResponse(MetadataOnlyResponse.getDefaultInstance()).build();
            case Cluster.Decision.Empty e -> AnnouncePeerResponse.newBuilder()
                    .setEmptyTaskResponse(EmptyTaskResponse.getDefaultInstance()).build();
            case Cluster.Decision.Held h -> throw new IllegalStateException("a held peer gets no answer until it is scheduled");
        };
    }

    @Override
    public void announceHost(AnnounceHostRequest request, StreamObserver<Empty> responses) {
        if (request.getHost().getId().isEmpty()) {
            responses.onError(Status.INVALID_ARGUMENT.withDescription("AnnounceHostRequest.host.id is empty").asRuntimeException());
            return;
        }
        var interval = request.getInterval();
        cluster.announceHost(request.getHost(), Duration.ofSeconds(Math.max(0, interval.getSeconds()), Math.max(0, interval.getNanos())));
        responses.onNext(Empty.getDefaultInstance());
        responses.onCompleted();
    }

    @Override
    public void deleteHost(DeleteHostRequest request, StreamObserver<Empty> responses) {
        if (cluster.deleteHost(request.getHostId())) {
            ok(responses);
        } else {
            responses.onError(hostNotFound(request.getHostId()));
        }
    }

    @Override
    public void listHosts(ListHostsRequest request, StreamObserver<ListHostsResponse> responses) {
        responses.onNext(ListHostsResponse.newBuilder()
                .addAllHosts(request.hasType() ? cluster.hosts(request.getType()) : cluster.hosts()).build());
        responses.onCompleted();
    }

    @Override
    public void statTask(StatTaskRequest request, StreamObserver<Task> responses) {
        cluster.statTask(request.getTaskId()).ifPresentOrElse(t -> {
            responses.onNext(t);
            responses.onCompleted();
        }, () -> responses.onError(Status.NOT_FOUND.withDescription("task " + request.getTaskId() + " not found").asRuntimeException()));
    }

    @Override
    public void deleteTask(DeleteTaskRequest request, StreamObserver<Empty> responses) {
        if (cluster.deleteTask(request.getHostId(), request.getTaskId())) {
            ok(responses);
        } else {
            responses.onError(hostNotFound(request.getHostId()));
        }
    }

    @Override
    public void statPeer(StatPeerRequest request, StreamObserver<Peer> responses) {
        cluster.statPeer(request.getPeerId()).ifPresentOrElse(p -> {
            responses.onNext(p);
            responses.onCompleted();
        }, () -> responses.onError(Status.NOT_FOUND.withDescription("peer " + request.getPeerId() + " not found").asRuntimeException()));
    }

    /** Always OK, as in Dragonfly: deleting a peer that is gone already is done. */
    @Override
    public void deletePeer(DeletePeerRequest request, StreamObserver<Empty> responses) {
        cluster.deletePeer(request.getPeerId());
        ok(responses);
    }

    private static void ok(StreamObserver<Empty> responses) {
        responses.onNext(Empty.getDefaultInstance());
        responses.onCompleted();
    }

    private static io.grpc.StatusRuntimeException hostNotFound(String hostId) {
        return Status.NOT_FOUND.withDescription("host " + hostId + " not found").asRuntimeException();
    }
}
