package dev.pollen.agent.peer;

import com.google.protobuf.util.Durations;
import com.google.protobuf.util.Timestamps;
import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.storage.StoredTask;
import dev.pollen.agent.storage.TaskMetadata;
import dev.pollen.policy.ParentRefresh;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Peer;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.proto.common.v2.Task;
import dev.pollen.proto.common.v2.TrafficType;
import dev.pollen.proto.dfdaemon.v2.DfdaemonUploadGrpc;
import dev.pollen.proto.dfdaemon.v2.StatTaskRequest;
import dev.pollen.scheduler.client.Decision;
import dev.pollen.scheduler.client.PeerSession;
import dev.pollen.scheduler.client.SchedulerClient;
import dev.pollen.scheduler.client.SchedulerUnavailableException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;
import java.util.stream.IntStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One task's life as a peer: registered with the scheduler, told to use parents or the origin,
 * reporting every piece so others can use this node in turn.
 *
 * <p>A scheduler keeps its peers in memory: when the stream breaks mid-download (the scheduler restarted, or the
 * connection was lost), the download registers again on a new stream once the host has been announced to the
 * scheduler since, reports its start and every piece it reported before, and goes on with its parents plus those the
 * answer names. Without that a restarted scheduler would neither give it parents nor offer it to anyone. (Dragonfly's
 * Rust client gives up the scheduler instead and fetches the rest from the origin: resource/task.rs,
 * download_partial_with_scheduler.)
 */
public final class PeerDownload implements AutoCloseable, ParentSet.Reporter {
    private static final Logger log = LoggerFactory.getLogger(PeerDownload.class);
    private static final long STAT_RETRY_MILLIS = 100;
    /** How often a broken stream's download checks whether it may register again (the host announced since). */
    private static final long REREGISTER_POLL_MILLIS = 100;
    /** Dragonfly's SizeScope UNKNOW, which the api repository's proto/ copy (and so Pollen's) lacks. */
    private static final int SIZE_SCOPE_UNKNOWN = 4;

    private final P2p p2p;
    private final String taskId;
    /** The registration as sent, with the task's lengths once known: a new stream registers with it again. */
    private volatile Download download;
    /** The stream to the scheduler; replaced when a broken one is registered again (guarded by this for writes). */
    private volatile PeerSession session;
    /** Completed with the new stream once a broken one is registered again; a reschedule meanwhile waits for it. */
    private CompletableFuture<PeerSession> reregistered = new CompletableFuture<>();
    /** What was reported on the stream so far, to report again on a new one (guarded by {@link #reports}). */
    private final Map<Integer, Reported> reported = new LinkedHashMap<>();
    private final Object reports = new Object();
    /** The start reported: null before it, else whether it was from the origin. Guarded by this. */
    private Boolean startedFromOrigin;
    private final AtomicBoolean refreshing = new AtomicBoolean();
    private volatile Decision decision;
    private ParentSet parents;
    private boolean fromOrigin;
    private boolean ended;
    private volatile int pieceCount;
    private final AtomicBoolean replacing = new AtomicBoolean();
    /** Reschedules asked so far (guarded by this): callers that failed together ask once. */
    private long reschedules;
    /** No parent is usable and the scheduler named no others: the remaining pieces go to the origin. */
    private boolean abandoned;
    private final ReentrantLock rescheduling = new ReentrantLock();

    /** A piece as it was reported. */
    private record Reported(Piece piece, boolean backToSource) {
    }

    private PeerDownload(P2p p2p, String taskId, Download download, PeerSession session, Decision decision) {
        this.p2p = p2p;
        this.taskId = taskId;
        this.download = download;
        this.session = session;
        this.decision = decision;
    }

    /** Registers; null when no scheduler answers (the caller goes to the origin and says so). */
    public static PeerDownload register(P2p p2p, String taskId, Download d) {
        String peerId = newPeerId(p2p, taskId);
        try {
            SchedulerClient.Registration r = p2p.scheduler().register(taskId, peerId, d, p2p.scheduleTimeout());
            log.info("event=peer_registered task={} peer={} scheduler={} decision={}", taskId, peerId, r.session().scheduler(),
                    r.decision().getClass().getSimpleName());
            PeerDownload peer = new PeerDownload(p2p, taskId, d, r.session(), r.decision());
            r.session().onBroken(why -> peer.streamBroken(r.session(), why));
            return peer;
        } catch (SchedulerUnavailableException e) {
            log.warn("event=scheduler_unavailable task={} action=back_to_source cause=\"{}\"", taskId, e.getMessage());
            return null;
        }
    }

    private static String newPeerId(P2p p2p, String taskId) {
        return p2p.hostId() + "-" + taskId.substring(0, 8) + "-" + UUID.randomUUID();
    }

    public String peerId() {
        return session.peerId();
    }

    public Decision decision() {
        return decision;
    }

    /**
     * The task's length as the parents know it, for a node that could not learn it from the origin: from the
     * candidates' task (Dragonfly's scheduler fills it), else from each parent's StatTask, asking again for a
     * moment while they are still learning it themselves. A parent that does not have the task (NOT_FOUND: the
     * scheduler's view of it is stale) is not asked again. -1 when none knows in time.
     */
    public long lengthFromParents() throws InterruptedException {
        if (!(decision instanceof Decision.Parents p)) {
            return -1;
        }
        for (Peer candidate : p.parents()) {
            long length = candidate.getTask().getContentLength();
            // Dragonfly sends an unknown length (-1) cast to uint64: a sign bit is never a length.
            if (length > 0) {
                return length;
            }
        }
        List<Peer> asking = new ArrayList<>(p.parents());
        Set<String> unusable = new HashSet<>();
        long deadline = System.nanoTime() + p2p.scheduleTimeout().toNanos();
        while (!asking.isEmpty()) {
            long known = statOnce(asking, unusable);
            if (known >= 0 || System.nanoTime() > deadline) {
                return known;
            }
            Thread.sleep(STAT_RETRY_MILLIS);
        }
        return -1;
    }

    /**
     * The first length a parent knows, -1 if none does yet; parents without the task are removed from {@code asking},
     * and each that answers without a length is logged once ({@code unusable}).
     */
    private long statOnce(List<Peer> asking, Set<String> unusable) {
        for (Iterator<Peer> it = asking.iterator(); it.hasNext(); ) {
            Peer parent = it.next();
            try {
                Task t = DfdaemonUploadGrpc.newBlockingStub(p2p.channels().channel(parent.getHost().getIp(), parent.getHost().getPort()))
                        .withDeadlineAfter(2, TimeUnit.SECONDS)
                        .statTask(StatTaskRequest.newBuilder().setTaskId(taskId).build());
                // A length of 0 is an empty task only when it is finished and its size is known: Pollen's scheduler, which a
                // Dragonfly parent's StatTask relays, sends an unknown length as 0 with size scope 4 (UNKNOW).
                if (t.getContentLength() > 0 || "Succeeded".equals(t.getState()) && t.getSizeScopeValue() != SIZE_SCOPE_UNKNOWN) {
                    return t.getContentLength();
                }
                if (unusable.add(parent.getId())) {
                    log.info("event=parent_length_unknown task={} parent={} content_length={} state={}", taskId, parent.getId(),
                            t.getContentLength(), t.getState());
                }
            } catch (StatusRuntimeException e) {
                log.info("event=parent_stat_failed task={} parent={} status={}", taskId, parent.getId(), e.getStatus());
                if (e.getStatus().getCode() != Status.Code.UNAVAILABLE && e.getStatus().getCode() != Status.Code.DEADLINE_EXCEEDED) {
                    it.remove();
                }
            }
        }
        return -1;
    }

    /**
     * Starts following the parents for the task as stored (its length known now, whoever told it);
     * {@link #reportStarted} tells the scheduler.
     */
    public synchronized void followParents(TaskMetadata task) {
        parents = new ParentSet(p2p.hostId(), taskId, p2p.channels(), p2p.vortex(), p2p.pieceTimeout(), this,
                p2p.suspects().of(taskId));
        this.pieceCount = task.pieceCount();
        if (!download.hasActualContentLength()) {
            // Learned from the parents: a registration on a new stream tells the scheduler, as the first one could not.
            download = download.toBuilder().setActualContentLength(task.contentLength()).setActualPieceLength(task.pieceLength())
                    .setActualPieceCount(pieceCount).build();
        }
        parents.add(((Decision.Parents) decision).parents(), wanted());
        refreshInBackground(parents);
    }

    private List<Integer> wanted() {
        return IntStream.range(0, pieceCount).boxed().toList();
    }

    private void refreshInBackground(ParentSet set) {
        if (refreshing.compareAndSet(false, true)) {
            Thread.ofVirtual().name("parents-" + taskId.substring(0, 8)).start(() -> {
                try {
                    refreshParents(set);
                } finally {
                    refreshing.set(false);
                }
            });
        }
    }

    /**
     * Asks the scheduler for more parents every {@link ParentRefresh#INTERVAL} while fewer than
     * {@link ParentRefresh#ENOUGH_PARENTS} are usable, and whenever the parents have held nothing this child lacks for
     * {@link ParentRefresh#STARVED}, keeping the ones it has; also at the interval while they answer busy as often as
     * {@link ParentRefresh#crowded} says (their uplinks are taken by their other children). Peers gain pieces as the swarm runs, but the scheduler
     * only answers (Dragonfly's protocol has no push): a child that registered when only the seed held anything would
     * otherwise fetch everything from the seed, and one whose parents are at its own point of the file would wait for
     * them while other peers hold what it needs. Stops when the download ends, or when the scheduler names nobody (a
     * new stream, after a break, starts it again).
     */
    private void refreshParents(ParentSet set) {
        long tick = Math.min(p2p.parentRefresh().toMillis(), ParentRefresh.STARVED.toMillis());
        long lastAsk = System.nanoTime();
        long busyAtAsk = set.busyAnswers();
        try {
            while (true) {
                Thread.sleep(tick);
                long seen;
                synchronized (this) {
                    if (ended || abandoned || parents != set) {
                        return;
                    }
                    seen = reschedules;
                }
                long now = System.nanoTime();
                boolean starved = ParentRefresh.starved(set.starvedNanos(now));
                long busy = set.busyAnswers();
                boolean interval = now - lastAsk >= p2p.parentRefresh().toNanos();
                boolean crowded = interval && ParentRefresh.crowded(busy - busyAtAsk, now - lastAsk);
                boolean due = interval && (ParentRefresh.wantsMore(set.usableCount()) || crowded);
                // A broken stream is being registered again: asking on it would fail, and stop the refresh for good.
                if (session.isBroken() || !starved && !due) {
                    continue;
                }
                lastAsk = now;
                busyAtAsk = busy;
                if (!reschedule(set, pieceCount, starved ? "more parents: the parents hold nothing this peer lacks"
                        : crowded ? "more parents: the parents are busy" : "more parents: peers have gained pieces", seen)) {
                    return;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** DownloadPeerStarted: sent once the task exists on this node, so a child the scheduler sends here finds it. */
    public synchronized void reportStarted() {
        startedFromOrigin = false;
        session.started(false);
    }

    /**
     * The scheduler's empty task, confirmed: Dragonfly's dfdaemon answers EmptyTaskResponse with a start and
     * an end and nothing between, and leaves.
     */
    public synchronized void emptyTask() {
        if (!ended) {
            ended = true;
            session.started(false);
            session.finished(false);
        }
        close();
    }

    public synchronized void startFromOrigin() {
        fromOrigin = true;
        startedFromOrigin = true;
        session.started(true);
    }

    /** Whether pieces are still to be asked of parents: false once none is usable and the scheduler names no others. */
    public synchronized boolean hasParents() {
        return parents != null && !abandoned;
    }

    /**
     * Which of {@code candidates} (pieces a caller wants that are neither stored nor being fetched) to ask for next,
     * as the parents' announcements make best ({@link ParentSet#choosePiece}); -1 when no parent holds any.
     */
    public int choosePiece(java.util.BitSet candidates) {
        ParentSet set;
        synchronized (this) {
            set = abandoned ? null : parents;
        }
        return set == null ? -1 : set.choosePiece(candidates);
    }

    /**
     * A piece from the parents, asking the scheduler for new ones when the current ones cannot deliver it;
     * null when the origin must serve it. The second ask waits for parents that stayed silent through the first
     * (ParentSet's stall counts from each ask): they may be fetching the piece themselves, as the one peer the
     * scheduler let go to the origin does on a congested link.
     */
    public ParentSet.Fetched fetch(StoredTask store, int number) throws InterruptedException {
        ParentSet set;
        long seen;
        synchronized (this) {
            set = abandoned ? null : parents;
            seen = reschedules;
        }
        if (set == null) {
            return null;
        }
        ParentSet.Fetched fetched = set.fetch(store, number, p2p.parentWait());
        if (fetched != null) {
            return fetched;
        }
        if (reschedule(set, store.metadata().pieceCount(), "no parent delivered piece " + number, seen)) {
            return set.fetch(store, number, p2p.parentWait());
        }
        return null;
    }

    /**
     * Asks the scheduler for parents other than the unusable ones and starts following them; false when it names
     * none (or cannot be reached), and the origin is left. Pieces that failed together ask once: a caller that
     * finds the scheduler was asked since its own attempt began tries the answer instead of asking again. Once no
     * parent is usable and the scheduler has none to offer, the task stops asking (a Dragonfly scheduler takes
     * seconds to say so, and would be asked for every remaining piece).
     *
     * @param seen the number of reschedules when the caller's attempt began
     */
    private boolean reschedule(ParentSet set, int pieceCount, String why, long seen) {
        Decision next;
        // The session matches answers to questions; this lock keeps `decision` the answer to the latest one.
        // (A lock, not a monitor: the wait must not pin a virtual thread's carrier on Java 21.)
        rescheduling.lock();
        try {
            synchronized (this) {
                if (abandoned) {
                    return false;
                }
                if (reschedules != seen) {
                    return true;
                }
            }
            try {
                next = currentSession().reschedule(set.unusable(), why, p2p.scheduleTimeout());
            } catch (SchedulerUnavailableException e) {
                log.warn("event=reschedule_failed task={} cause=\"{}\"", taskId, e.getMessage());
                next = new Decision.BackToSource(e.getMessage());
            }
            boolean toOrigin;
            synchronized (this) {
                decision = next;
                reschedules++;
                toOrigin = !names(next) && !set.hasUsableParents();
                abandoned |= toOrigin;
                if (toOrigin) {
                    // As the Rust client answers NeedBackToSource: the rest comes from the origin, and the scheduler hears so.
                    startedFromOrigin = true;
                    session.started(true);
                }
            }
        } finally {
            rescheduling.unlock();
        }
        if (names(next)) {
            set.add(((Decision.Parents) next).parents(), IntStream.range(0, pieceCount).boxed().toList());
            return true;
        }
        return false;
    }

    /** Whether an answer names any parent: an empty candidate list is nobody, as the origin is. */
    private static boolean names(Decision d) {
        return d instanceof Decision.Parents p && !p.parents().isEmpty();
    }

    /** The stream to ask on: while a broken one is registered again, the new one (waiting at most the schedule timeout). */
    private PeerSession currentSession() {
        PeerSession current = session;
        CompletableFuture<PeerSession> next;
        synchronized (this) {
            next = reregistered;
        }
        if (!current.isBroken()) {
            return current;
        }
        try {
            return next.get(p2p.scheduleTimeout().toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException | ExecutionException e) {
            return current;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return current;
        }
    }

    public void pieceFromOrigin(PieceRecord piece, Instant createdAt, Duration cost) {
        report(new Reported(piece(piece, TrafficType.BACK_TO_SOURCE, createdAt, cost).build(), true));
    }

    @Override
    public void pieceFromParent(ParentSet.Fetched fetched) {
        report(new Reported(piece(fetched.piece(), TrafficType.REMOTE_PEER, fetched.createdAt(), fetched.cost())
                .setParentId(fetched.parentId()).build(), false));
    }

    /** Reports a piece, and keeps the report for a new stream: whichever stream it reads is current, or replays it. */
    private void report(Reported r) {
        PeerSession to;
        synchronized (reports) {
            reported.put(r.piece().getNumber(), r);
            to = session;
        }
        to.pieceFinished(r.piece(), r.backToSource());
    }

    @Override
    public void parentFailed(int number, String parentId, String why) {
        session.pieceFailed(number, parentId, false);
    }

    /**
     * The stream broke while this download runs: register again (in the background, the parents serve meanwhile) once
     * the host has been announced since, under the same peer id first (a scheduler that restarted does not know it;
     * Pollen's takes it again in any case), then under a new one (Dragonfly's refuses a peer it still knows as
     * running: its state machine has no second registration).
     */
    private void streamBroken(PeerSession broken, Throwable why) {
        synchronized (this) {
            if (ended || session != broken) {
                return;
            }
        }
        long announcements = p2p.scheduler().announcements(broken.scheduler());
        log.info("event=scheduler_stream_lost task={} peer={} scheduler={} action=register_again cause=\"{}\"", taskId,
                broken.peerId(), broken.scheduler(), Status.fromThrowable(why).getCode());
        Thread.ofVirtual().name("reregister-" + taskId.substring(0, 8)).start(() -> reregister(broken, announcements));
    }

    private void reregister(PeerSession broken, long announcementsAtBreak) {
        int attempt = 0;
        try {
            while (true) {
                synchronized (this) {
                    if (ended) {
                        return;
                    }
                }
                String owner = p2p.scheduler().ownerOf(taskId);
                if (owner == null || owner.equals(broken.scheduler()) && p2p.scheduler().announcements(owner) == announcementsAtBreak) {
                    Thread.sleep(REREGISTER_POLL_MILLIS);
                    continue;
                }
                String peerId = attempt++ == 0 ? broken.peerId() : newPeerId(p2p, taskId);
                SchedulerClient.Registration r;
                try {
                    r = p2p.scheduler().register(taskId, peerId, download, p2p.scheduleTimeout());
                } catch (SchedulerUnavailableException e) {
                    log.info("event=register_again_failed task={} peer={} attempt={} cause=\"{}\"", taskId, peerId, attempt,
                            e.getMessage());
                    announcementsAtBreak = p2p.scheduler().announcements(broken.scheduler());
                    continue;
                }
                adopt(r, broken);
                // A stream that broke again already is told at once, and registered again from the start.
                r.session().onBroken(why -> streamBroken(r.session(), why));
                return;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Takes a new registration as this download's stream: its start and every piece reported so far go out on it
     * again, then the parents it names join the current ones (kept: they serve as before).
     */
    private void adopt(SchedulerClient.Registration r, PeerSession old) {
        PeerSession next = r.session();
        Decision answer = r.decision();
        List<Reported> replay;
        ParentSet set;
        synchronized (this) {
            if (ended) {
                next.close();
                return;
            }
            set = abandoned ? null : parents;
            if (startedFromOrigin == null) {
                // Not started yet: reportStarted or startFromOrigin will say so on the new stream.
            } else if (startedFromOrigin || set == null) {
                next.started(true);
            } else if (names(answer) || set.hasUsableParents()) {
                next.started(false);
            } else {
                // Told the origin with no parent left: as after a reschedule's NeedBackToSource.
                abandoned = true;
                startedFromOrigin = true;
                next.started(true);
                set = null;
            }
            decision = answer;
            synchronized (reports) {
                session = next;
                replay = List.copyOf(reported.values());
            }
            reregistered.complete(next);
            reregistered = new CompletableFuture<>();
        }
        old.close();
        replay.forEach(p -> next.pieceFinished(p.piece(), p.backToSource()));
        log.info("event=peer_registered_again task={} peer={} scheduler={} decision={} pieces_reported={}", taskId, next.peerId(),
                next.scheduler(), answer.getClass().getSimpleName(), replay.size());
        if (set != null && names(answer)) {
            set.add(((Decision.Parents) answer).parents(), wanted());
        }
        if (set != null) {
            refreshInBackground(set);
        }
    }

    /**
     * A slow parent is reported as a temporary failure (it may serve others well) and replaced in the
     * background, one replacement at a time, while the other parents carry on.
     */
    @Override
    public void parentSlow(int number, String parentId) {
        session.pieceFailed(number, parentId, true);
        ParentSet set;
        long seen;
        synchronized (this) {
            set = parents;
            seen = reschedules;
        }
        if (set != null && pieceCount > 0 && replacing.compareAndSet(false, true)) {
            Thread.ofVirtual().name("reschedule-" + taskId.substring(0, 8)).start(() -> {
                try {
                    reschedule(set, pieceCount, "parent " + parentId + " is slow", seen);
                } finally {
                    replacing.set(false);
                }
            });
        }
    }

    public synchronized void finished() {
        if (!ended) {
            ended = true;
            session.finished(backToSource());
            closeParents();
        }
    }

    /**
     * Every piece is in and together they failed the task's content digest: the parents that sent any of them are
     * suspects for this task ({@link SuspectParents}); the caller then ends the download as failed.
     */
    public void contentRejected() {
        Set<String> senders = new HashSet<>();
        synchronized (reports) {
            for (Reported r : reported.values()) {
                if (!r.backToSource() && !r.piece().getParentId().isEmpty()) {
                    senders.add(r.piece().getParentId());
                }
            }
        }
        p2p.suspects().implicate(taskId, senders);
        if (!senders.isEmpty()) {
            log.warn("event=parents_suspected task={} parents={} reason=content_digest_mismatch action=not_followed_for_task ttl={}",
                    taskId, String.join(",", senders), SuspectParents.TTL);
        }
    }

    public synchronized void failed(String why) {
        if (!ended) {
            ended = true;
            session.failed(backToSource(), why);
            closeParents();
        }
    }

    /** Whether the scheduler was told this peer went to the origin: its end is reported as back-to-source too. */
    private boolean backToSource() {
        return fromOrigin && parents == null || abandoned;
    }

    private void closeParents() {
        if (parents != null) {
            parents.close();
        }
    }

    /** A piece as Dragonfly's dfdaemon reports it: with when its download began and what it cost. */
    private static Piece.Builder piece(PieceRecord p, TrafficType traffic, Instant createdAt, Duration cost) {
        return Piece.newBuilder().setNumber(p.number()).setOffset(p.offset()).setLength(p.length()).setDigest(p.digest())
                .setTrafficType(traffic).setCreatedAt(Timestamps.fromMillis(createdAt.toEpochMilli())).setCost(Durations.fromNanos(cost.toNanos()));
    }

    /** Leaves the stream open only long enough to report the end: a finished peer stays a parent for others. */
    @Override
    public synchronized void close() {
        closeParents();
        session.close();
    }
}
