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
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One peer's AnnouncePeer stream: register, then report progress. Thread-safe for reporting from piece
 * workers; questions (registration, rescheduling) are asked one at a time.
 *
 * <p>An AnnouncePeerResponse names no request, so answers are matched to questions by position: the
 * scheduler answers every RegisterPeer and ReschedulePeer exactly once, in the order asked, on one
 * ordered stream (Dragonfly's scheduler does, and so does Pollen's). Each question takes the next number;
 * the n-th answer belongs to question n. An answer to a question that already gave up (timed out) is
 * dropped when it arrives, even while a later question waits, so it can never be taken for the later
 * question's answer; an answer beyond the questions asked (unasked for) is dropped too. A failed stream
 * fails the waiting question and every later one.
 */
public final class PeerSession implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(PeerSession.class);

    private final String hostId;
    private final String taskId;
    private final String peerId;
    private final String scheduler;
    private final StreamObserver<AnnouncePeerRequest> requests;
    /** Guards the stream's sends (gRPC observers are not thread-safe) and the bookkeeping below. */
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition answered = lock.newCondition();
    /** One question at a time: held by the asker across its wait (a lock, so a virtual thread never pins). */
    private final ReentrantLock asking = new ReentrantLock();
    /** Questions sent so far; the number of the latest. */
    private long asked;
    /** Answers received so far (never more than {@link #asked}). */
    private long answers;
    /** The number of the question a caller waits for, 0 when none waits. */
    private long waitingFor;
    /** The answer to {@link #waitingFor} once it came. */
    private AnnouncePeerResponse answer;
    /** Why the stream ended, once it did. */
    private Throwable broken;
    private boolean closed;
    private final Events events;
    /** Told once when the stream breaks before it was closed (see {@link #onBroken}). */
    private java.util.function.Consumer<Throwable> brokenListener;

    /** What the client learns from a session about its scheduler's view of this host. */
    interface Events {
        /** The scheduler took the peer's finished report: it holds the peer as a parent from now on. */
        void finished(String scheduler, String peerId);

        /** The stream broke as a lost connection does: the scheduler may have gone (and come back empty). */
        void lost(String scheduler);

        /** The peer finished while its stream was broken: the scheduler never heard, and offers it to nobody. */
        void finishedUnheard(String scheduler, String taskId);

        Events NONE = new Events() {
            @Override
            public void finished(String scheduler, String peerId) {
            }

            @Override
            public void lost(String scheduler) {
            }

            @Override
            public void finishedUnheard(String scheduler, String taskId) {
            }
        };
    }

    PeerSession(ManagedChannel channel, String scheduler, String hostId, String taskId, String peerId) {
        this(channel, scheduler, hostId, taskId, peerId, Events.NONE);
    }

    PeerSession(ManagedChannel channel, String scheduler, String hostId, String taskId, String peerId, Events events) {
        this.events = events;
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
                received(response);
            }

            @Override
            public void onError(Throwable t) {
                ended(t);
            }

            @Override
            public void onCompleted() {
                ended(new IllegalStateException("scheduler " + scheduler + " closed the stream"));
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
        return ask(AnnouncePeerRequest.newBuilder().setRegisterPeerRequest(RegisterPeerRequest.newBuilder().setDownload(download)),
                timeout);
    }

    /**
     * Announces a task this host already holds in full, as Dragonfly's dfdaemon does for a finished task
     * (dfdaemon_upload.rs, download_task): a registration with {@code metadata_only}, answered by
     * MetadataOnlyResponse without scheduling, then Started and Finished with no piece between. The scheduler
     * then counts the peer as holding every piece of the task ({@code actual_piece_count} tells how many).
     *
     * @throws SchedulerUnavailableException when no answer comes, or an answer other than MetadataOnlyResponse
     *     (a scheduler that does not know {@code metadata_only}): the peer is then left unannounced
     */
    void announceHeld(Download download, Duration timeout) throws SchedulerUnavailableException {
        AnnouncePeerResponse r;
        asking.lock();
        try {
            r = awaitAnswer(AnnouncePeerRequest.newBuilder().setRegisterPeerRequest(RegisterPeerRequest.newBuilder()
                    .setDownload(download.toBuilder().setMetadataOnly(true).setNeedBackToSource(false))), timeout);
        } finally {
            asking.unlock();
        }
        if (r.getResponseCase() != AnnouncePeerResponse.ResponseCase.METADATA_ONLY_RESPONSE) {
            throw new SchedulerUnavailableException("scheduler " + scheduler + " answered a metadata-only registration with "
                    + r.getResponseCase() + " (expected: METADATA_ONLY_RESPONSE)", null);
        }
        started(false);
        finished(false);
    }

    /** Asks for other parents, excluding those given. */
    public Decision reschedule(List<Peer> exclude, String why, Duration timeout) throws SchedulerUnavailableException {
        return ask(AnnouncePeerRequest.newBuilder().setReschedulePeerRequest(
                ReschedulePeerRequest.newBuilder().addAllCandidateParents(exclude).setDescription(why)), timeout);
    }

    /**
     * Calls {@code listener} once when the stream breaks (the scheduler went away, or ended it) before this side
     * closed it; at once if it already has. A download still running then registers again on a new stream.
     */
    public void onBroken(java.util.function.Consumer<Throwable> listener) {
        Throwable already;
        lock.lock();
        try {
            brokenListener = listener;
            already = closed ? null : broken;
        } finally {
            lock.unlock();
        }
        if (already != null) {
            listener.accept(already);
        }
    }

    /** Whether the stream broke before this side closed it: nothing sent on it reaches the scheduler. */
    public boolean isBroken() {
        return brokenNotClosed();
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
        boolean sent;
        if (backToSource) {
            sent = send(AnnouncePeerRequest.newBuilder().setDownloadPeerBackToSourceFinishedRequest(
                    DownloadPeerBackToSourceFinishedRequest.getDefaultInstance()));
        } else {
            sent = send(AnnouncePeerRequest.newBuilder().setDownloadPeerFinishedRequest(DownloadPeerFinishedRequest.getDefaultInstance()));
        }
        if (sent) {
            events.finished(scheduler, peerId);
        } else if (brokenNotClosed()) {
            events.finishedUnheard(scheduler, taskId);
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

    /** Sends on the stream; false when it is closed or broken (gRPC drops a message on a broken call silently). */
    private boolean send(AnnouncePeerRequest.Builder request) {
        lock.lock();
        try {
            if (!closed) {
                requests.onNext(request.setHostId(hostId).setTaskId(taskId).setPeerId(peerId).build());
            }
            return !closed && broken == null;
        } finally {
            lock.unlock();
        }
    }

    private boolean brokenNotClosed() {
        lock.lock();
        try {
            return broken != null && !closed;
        } finally {
            lock.unlock();
        }
    }

    /** Sends a question and waits for the answer that belongs to it. */
    private Decision ask(AnnouncePeerRequest.Builder question, Duration timeout) throws SchedulerUnavailableException {
        asking.lock();
        try {
            AnnouncePeerResponse r = awaitAnswer(question, timeout);
            return switch (r.getResponseCase()) {
                case NORMAL_TASK_RESPONSE -> new Decision.Parents(r.getNormalTaskResponse().getCandidateParentsList());
                case NEED_BACK_TO_SOURCE_RESPONSE -> new Decision.BackToSource(r.getNeedBackToSourceResponse().getDescription());
                case EMPTY_TASK_RESPONSE -> new Decision.Empty();
                default -> new Decision.BackToSource("scheduler answered " + r.getResponseCase());
            };
        } finally {
            asking.unlock();
        }
    }

    private AnnouncePeerResponse awaitAnswer(AnnouncePeerRequest.Builder question, Duration timeout)
            throws SchedulerUnavailableException {
        long deadline = System.nanoTime() + timeout.toNanos();
        lock.lock();
        try {
            if (broken != null) {
                throw failed(broken);
            }
            // Numbered and sent under the lock, so no answer can be counted between the two.
            long number = ++asked;
            waitingFor = number;
            answer = null;
            send(question);
            try {
                while (answer == null && broken == null) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        throw new SchedulerUnavailableException("scheduler " + scheduler + " did not answer within "
                                + timeout.toMillis() + " ms", null);
                    }
                    answered.awaitNanos(left);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new SchedulerUnavailableException("interrupted waiting for scheduler " + scheduler, e);
            } finally {
                waitingFor = 0;
            }
            if (answer == null) {
                throw failed(broken);
            }
            AnnouncePeerResponse r = answer;
            answer = null;
            return r;
        } finally {
            lock.unlock();
        }
    }

    private SchedulerUnavailableException failed(Throwable cause) {
        return new SchedulerUnavailableException("scheduler " + scheduler + " failed: " + cause.getMessage(), cause);
    }

    private void received(AnnouncePeerResponse response) {
        lock.lock();
        try {
            if (answers == asked) {
                log.debug("event=scheduler_answer_unasked scheduler={} task={} answer={}", scheduler, taskId,
                        response.getResponseCase());
                return;
            }
            long number = ++answers;
            if (number == waitingFor) {
                answer = response;
                answered.signalAll();
            } else {
                log.debug("event=scheduler_answer_stale scheduler={} task={} question={} latest={}", scheduler, taskId,
                        number, asked);
            }
        } finally {
            lock.unlock();
        }
    }

    private void ended(Throwable why) {
        boolean lost;
        java.util.function.Consumer<Throwable> tell = null;
        lock.lock();
        try {
            lost = broken == null && !closed && Status.fromThrowable(why).getCode() == Status.Code.UNAVAILABLE;
            if (broken == null) {
                broken = why;
                tell = closed ? null : brokenListener;
            }
            answered.signalAll();
        } finally {
            lock.unlock();
        }
        if (lost) {
            events.lost(scheduler);
        }
        if (tell != null) {
            tell.accept(why);
        }
    }

    @Override
    public void close() {
        lock.lock();
        try {
            if (!closed) {
                closed = true;
                try {
                    requests.onCompleted();
                } catch (RuntimeException ignored) {
                    // the stream is already broken: nothing left to close
                }
            }
        } finally {
            lock.unlock();
        }
    }
}
