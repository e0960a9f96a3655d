package dev.pollen.scheduler.client;

import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Peer;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.proto.scheduler.v2.AnnouncePeerRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerResponse;
import dev.pollen.proto.scheduler.v2.DownloadPeerBackToSourceFailedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPeerBackToSourceFinishedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPeerBackToSourceStartedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPeerFailedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPeerFinishedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPeerStartedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPieceBackToSourceFinishedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPieceFailedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPieceFinishedRequest;
import dev.pollen.proto.scheduler.v2.RegisterPeerRequest;
import dev.pollen.proto.scheduler.v2.ReschedulePeerRequest;
import dev.pollen.proto.scheduler.v2.SchedulerGrpc;
import io.grpc.ManagedChannel;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * One peer's AnnouncePeer stream: register, then report progress; the scheduler's answers (to
 * registration and rescheduling) are read in order. Thread-safe for reporting from piece workers.
 */
public final class PeerSession implements AutoCloseable {
    private final String hostId;
    private final String taskId;
    private final String peerId;
    private final String scheduler;
    private final BlockingQueue<Object> answers = new LinkedBlockingQueue<>();
    private final StreamObserver<AnnouncePeerRequest> requests;
    private boolean closed;

    PeerSession(ManagedChannel channel, String scheduler, String hostId, String taskId, String peerId) {
        this.hostId = hostId;
        this.taskId = taskId;
        this.peerId = peerId;
        this.scheduler = scheduler;
        // Outside any caller's gRPC context: the stream lives as long as the task's download, not as
        // long as the request (a dfget call) that happened to start it.
        io.grpc.Context previous = io.grpc.Context.ROOT.attach();
        try {
            this.requests = SchedulerGrpc.newStub(channel).announcePeer(new StreamObserver<>() {
            @Override
            public void onNext(AnnouncePeerResponse response) {
                answers.add(response);
            }

            @Override
            public void onError(Throwable t) {
                answers.add(t);
            }

            @Override
            public void onCompleted() {
                answers.add(new IllegalStateException("scheduler " + scheduler + " closed the stream"));
            }
            });
        } finally {
            io.grpc.Context.ROOT.detach(previous);
        }
    }

    public String scheduler() {
        return scheduler;
    }

    public String peerId() {
        return peerId;
    }

    Decision register(Download download, Duration timeout) throws SchedulerUnavailableException {
        send(AnnouncePeerRequest.newBuilder().setRegisterPeerRequest(RegisterPeerRequest.newBuilder().setDownload(download)));
        return awaitDecision(timeout);
    }

    /** Asks for other parents, excluding those given. */
    public Decision reschedule(List<Peer> exclude, String why, Duration timeout) throws SchedulerUnavailableException {
        send(AnnouncePeerRequest.newBuilder().setReschedulePeerRequest(
                ReschedulePeerRequest.newBuilder().addAllCandidateParents(exclude).setDescription(why)));
        return awaitDecision(timeout);
    }

    public void started(boolean backToSource) {
        if (backToSource) {
            send(AnnouncePeerRequest.newBuilder().setDownloadPeerBackToSourceStartedRequest(
                    DownloadPeerBackToSourceStartedRequest.getDefaultInstance()));
        } else {
            send(AnnouncePeerRequest.newBuilder().setDownloadPeerStartedRequest(DownloadPeerStartedRequest.getDefaultInstance()));
        }
    }

    public void pieceFinished(Piece piece, boolean backToSource) {
        if (backToSource) {
            send(AnnouncePeerRequest.newBuilder().setDownloadPieceBackToSourceFinishedRequest(
                    DownloadPieceBackToSourceFinishedRequest.newBuilder().setPiece(piece)));
        } else {
            send(AnnouncePeerRequest.newBuilder().setDownloadPieceFinishedRequest(
                    DownloadPieceFinishedRequest.newBuilder().setPiece(piece)));
        }
    }

    public void pieceFailed(int number, String parentId, boolean temporary) {
        send(AnnouncePeerRequest.newBuilder().setDownloadPieceFailedRequest(DownloadPieceFailedRequest.newBuilder()
                .setPieceNumber(number).setParentId(parentId).setTemporary(temporary)));
    }

    public void finished(boolean backToSource) {
        if (backToSource) {
            send(AnnouncePeerRequest.newBuilder().setDownloadPeerBackToSourceFinishedRequest(
                    DownloadPeerBackToSourceFinishedRequest.getDefaultInstance()));
        } else {
            send(AnnouncePeerRequest.newBuilder().setDownloadPeerFinishedRequest(DownloadPeerFinishedRequest.getDefaultInstance()));
        }
    }

    public void failed(boolean backToSource, String description) {
        if (backToSource) {
            send(AnnouncePeerRequest.newBuilder().setDownloadPeerBackToSourceFailedRequest(
                    DownloadPeerBackToSourceFailedRequest.newBuilder().setDescription(description)));
        } else {
            send(AnnouncePeerRequest.newBuilder().setDownloadPeerFailedRequest(
                    DownloadPeerFailedRequest.newBuilder().setDescription(description)));
        }
    }

    private synchronized void send(AnnouncePeerRequest.Builder request) {
        if (!closed) {
            requests.onNext(request.setHostId(hostId).setTaskId(taskId).setPeerId(peerId).build());
        }
    }

    private Decision awaitDecision(Duration timeout) throws SchedulerUnavailableException {
        Object answer;
        try {
            answer = answers.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SchedulerUnavailableException("interrupted waiting for scheduler " + scheduler, e);
        }
        if (answer == null) {
            throw new SchedulerUnavailableException("scheduler " + scheduler + " did not answer within " + timeout.toMillis() + " ms", null);
        }
        if (answer instanceof Throwable t) {
            throw new SchedulerUnavailableException("scheduler " + scheduler + " failed: " + t.getMessage(), t);
        }
        AnnouncePeerResponse r = (AnnouncePeerResponse) answer;
        return switch (r.getResponseCase()) {
            case NORMAL_TASK_RESPONSE -> new Decision.Parents(r.getNormalTaskResponse().getCandidateParentsList());
            case NEED_BACK_TO_SOURCE_RESPONSE -> new Decision.BackToSource(r.getNeedBackToSourceResponse().getDescription());
            case EMPTY_TASK_RESPONSE -> new Decision.Empty();
            default -> new Decision.BackToSource("scheduler answered " + r.getResponseCase());
        };
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            try {
                requests.onCompleted();
            } catch (RuntimeException ignored) {
                // the stream is already broken: nothing left to close
            }
        }
    }
}
