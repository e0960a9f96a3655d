package dev.pollen.agent.peer;

import dev.pollen.agent.storage.LocalStorageError;
import dev.pollen.agent.storage.LocalWriteException;
import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.storage.StoredTask;
import dev.pollen.agent.vortex.VortexException;
import dev.pollen.policy.Endgame;
import dev.pollen.policy.ParentLoad;
import dev.pollen.policy.ParentRefresh;
import dev.pollen.policy.PieceSelector;
import dev.pollen.proto.common.v2.Peer;
import dev.pollen.proto.dfdaemon.v2.DfdaemonUploadGrpc;
import dev.pollen.proto.dfdaemon.v2.SyncPiecesRequest;
import dev.pollen.proto.dfdaemon.v2.SyncPiecesResponse;
import io.grpc.Context;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The parents one task downloads from. A SyncPieces stream per parent says which pieces it holds as
 * they land there. {@link #choosePiece} says which piece to ask for next ({@link PieceSelector}: random
 * first, then rarest among the parents); {@link #fetch} then gets it over Vortex from the holder that
 * would deliver most, within each parent's window of requests at once ({@link ParentLoad}, adapted to the
 * throughput it shows). When every holder's window is full the fetch waits for one (up to the piece
 * timeout) rather than give up: congestion is no reason to go to the origin. A parent that answers busy
 * is asked less and, for a moment, not at all; it is not at fault. A parent that fails a fetch (bad
 * bytes, an error frame, a lost connection) is reported and not used again for this task; one whose piece
 * takes far longer than its own recent pace, while another parent holds that piece, is given up on as
 * slow. A failure to write the piece to our own disk is no parent's fault: it ends the fetch with the
 * local error ({@link LocalStorageError}) and blames nobody.
 *
 * <p>Endgame: once every piece the task still misses is being fetched here (at most
 * {@value Endgame#PIECES}), each is asked of a second holder too and the first to arrive wins. The
 * second request lands in a scratch file beside the content, never in the content file: two parents
 * writing one piece's bytes at once would let a bad parent's bytes land after a good parent's piece was
 * checked. The scratch bytes are copied into the content only after the first request stopped writing,
 * and only when it did not record the piece itself.
 */
public final class ParentSet implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ParentSet.class);

    /** Reports what happened with a parent, so the scheduler hears about it. */
    public interface Reporter {
        void pieceFromParent(Fetched fetched);

        void parentFailed(int number, String parentId, String why);

        /** The parent is far slower than its own pace: it is no longer asked, and replacements may be found. */
        void parentSlow(int number, String parentId);
    }

    /** A piece fetched from a parent: which one, when the fetch began and how long it took. */
    public record Fetched(PieceRecord piece, String parentId, Instant createdAt, Duration cost) {
    }

    /**
     * The times the policy runs on.
     *
     * @param stall when no parent announced any piece for this long, the parents are taken to be stuck (their own
     *     parent died, say, and they wait like us): a piece none of them holds goes elsewhere
     * @param slowFloor a piece is never given up on as slow before this (short pieces on a busy link are not punished)
     * @param busyBackoff how long a parent that answered busy is not asked again
     */
    record Timing(Duration stall, Duration slowFloor, Duration busyBackoff) {
        static final Timing DEFAULT = new Timing(ParentRefresh.STALL, ParentLoad.SLOW_FLOOR, ParentLoad.BUSY_BACKOFF);
    }

    /** How often a parent that ends a stream at its maximum age is followed again, and after how long. */
    private static final int RESTREAMS = 10;
    private static final long RESTREAM_MILLIS = 200;

    private final String hostId;
    private final String taskId;
    private final ParentChannels channels;
    private final VortexClient vortex;
    private final Duration pieceTimeout;
    private final Reporter reporter;
    private final Timing timing;
    private final PieceSelector selector;
    // A lock, not a monitor: fetches wait on it, and must not pin a virtual thread's carrier on Java 21.
    private final ReentrantLock lock = new ReentrantLock();
    /** Signalled whenever a fetch might now find a parent: an announcement, a request ending, a parent gone. */
    private final Condition changed = lock.newCondition();
    private final Map<String, ParentState> parents = new LinkedHashMap<>();
    private final Set<String> failed = new HashSet<>();
    private final Set<String> suspects;
    private final Set<String> slow = new HashSet<>();
    /** Pieces being fetched here, for the endgame. */
    private final Map<Integer, InFlight> fetching = new HashMap<>();
    private final List<Context.CancellableContext> streams = new ArrayList<>();
    private long lastAnnouncementNanos = System.nanoTime();
    /**
     * Since when (System.nanoTime) the usable parents held none of the pieces this child was choosing among, or since
     * new parents came; {@link #FED} while they hold some: {@link #starvedNanos}.
     */
    private long starvedSinceNanos = FED;
    private static final long FED = Long.MIN_VALUE;
    private int received;
    /** Busy answers from parents so far: what {@link ParentRefresh#crowded} judges. */
    private long busyAnswers;
    private boolean closed;

    private static final class ParentState {
        final Peer peer;
        final Map<Integer, InetSocketAddress> pieces = new HashMap<>();
        final BitSet held = new BitSet();
        final ParentLoad load = new ParentLoad();
        boolean gone;

        ParentState(Peer peer) {
            this.peer = peer;
        }

        String id() {
            return peer.getId();
        }

        /**
         * A seed peer (Dragonfly's host types other than normal): asked only when no other holder has room, since
         * its uplink is the one every child of the task shares while the pieces are new.
         */
        boolean seed() {
            return peer.getHost().getType() != 0;
        }
    }

    /** One piece being fetched here: the first request, and in the endgame a second one racing it. */
    private static final class InFlight {
        final int number;
        final StoredTask target;
        final ParentState first;
        /** Set when the second request won: the first stops at its next deadline check. */
        final AtomicBoolean firstCancelled = new AtomicBoolean();
        /** The first request's result once it stopped writing: its record, or null. */
        final CompletableFuture<PieceRecord> firstStopped = new CompletableFuture<>();
        /** The second request's piece (null when it failed or lost); null until one is started. Guarded by the lock. */
        CompletableFuture<Fetched> second;
        final AtomicBoolean secondCancelled = new AtomicBoolean();

        InFlight(int number, StoredTask target, ParentState first) {
            this.number = number;
            this.target = target;
            this.first = first;
        }
    }

    /** @param suspects parents not to follow: the scheduler hears each one as failed when it names it */
    public ParentSet(String hostId, String taskId, ParentChannels channels, VortexClient vortex, Duration pieceTimeout,
                     Reporter reporter, Set<String> suspects) {
        this(hostId, taskId, channels, vortex, pieceTimeout, reporter, Timing.DEFAULT, suspects);
    }

    ParentSet(String hostId, String taskId, ParentChannels channels, VortexClient vortex, Duration pieceTimeout,
              Reporter reporter, Timing timing) {
        this(hostId, taskId, channels, vortex, pieceTimeout, reporter, timing, Set.of());
    }

    private ParentSet(String hostId, String taskId, ParentChannels channels, VortexClient vortex, Duration pieceTimeout,
                      Reporter reporter, Timing timing, Set<String> suspects) {
        this.hostId = hostId;
        this.taskId = taskId;
        this.channels = channels;
        this.vortex = vortex;
        this.pieceTimeout = pieceTimeout;
        this.reporter = reporter;
        this.timing = timing;
        this.selector = new PieceSelector(new java.util.Random());
        this.suspects = Set.copyOf(suspects);
    }

    /** Starts following each new parent's pieces. */
    public void add(List<Peer> peers, List<Integer> wanted) {
        List<ParentState> added = new ArrayList<>();
        List<String> refused = new ArrayList<>();
        lock.lock();
        try {
            if (starvedSinceNanos != FED) {
                // the new parents get their own time to announce before the child asks again
                starvedSinceNanos = System.nanoTime();
            }
            for (Peer peer : peers) {
                if (closed || parents.containsKey(peer.getId()) || failed.contains(peer.getId())) {
                    continue;
                }
                if (suspects.contains(peer.getId())) {
                    failed.add(peer.getId());
                    refused.add(peer.getId());
                    continue;
                }
                ParentState state = new ParentState(peer);
                parents.put(peer.getId(), state);
                added.add(state);
            }
        } finally {
            lock.unlock();
        }
        for (String parentId : refused) {
            log.info("event=parent_refused task={} parent={} reason=suspect", taskId, parentId);
            // Outside the lock, as every report: the scheduler blocks it for this child and names others.
            reporter.parentFailed(0, parentId, "a copy of this task from it failed its content digest");
        }
        SyncPiecesRequest request = SyncPiecesRequest.newBuilder().setHostId(hostId).setTaskId(taskId)
                .addAllInterestedPieceNumbers(wanted).build();
        added.forEach(state -> follow(state, request, 1));
    }

    /** Streams one parent's pieces; a parent whose stream fails is gone for this task. */
    private void follow(ParentState state, SyncPiecesRequest request, int attempt) {
        // Detached from the request that started the download: the stream lives as long as this set.
        Context.CancellableContext ctx = Context.ROOT.withCancellation();
        lock.lock();
        try {
            if (closed) {
                return;
            }
            streams.add(ctx);
        } finally {
            lock.unlock();
        }
        Peer peer = state.peer;
        ctx.run(() -> DfdaemonUploadGrpc.newStub(channels.channel(peer.getHost().getIp(), peer.getHost().getPort()))
                .syncPieces(request, new StreamObserver<>() {
                    @Override
                    public void onNext(SyncPiecesResponse r) {
                        int port = r.hasTcpPort() ? r.getTcpPort() : peer.getHost().getDownloadPort();
                        String ip = r.getIp().isEmpty() ? peer.getHost().getIp() : r.getIp();
                        available(state, r.getNumber(), new InetSocketAddress(ip, port));
                    }

                    @Override
                    public void onError(Throwable t) {
                        io.grpc.Status.Code code = io.grpc.Status.fromThrowable(t).getCode();
                        forget(ctx);
                        if (code == io.grpc.Status.Code.DEADLINE_EXCEEDED && attempt < RESTREAMS) {
                            // This side sets no deadline: the parent ended a stream that reached its maximum age
                            // (upload.syncPieces.maxAge). It is alive; follow it again (not at once, nor forever,
                            // for a parent that ends every stream so).
                            CompletableFuture.delayedExecutor(RESTREAM_MILLIS, TimeUnit.MILLISECONDS)
                                    .execute(() -> follow(state, request, attempt + 1));
                        } else {
                            // Anything else, NOT_FOUND included, means the parent cannot serve the task: the scheduler's
                            // view of it is stale (a parent is named only once its task exists there, by Pollen and
                            // Dragonfly alike; Dragonfly's says so in-stream as INTERNAL "task .. not found").
                            gone(state, t.toString());
                        }
                    }

                    @Override
                    public void onCompleted() {
                        // every wanted piece announced; the parent stays usable
                        forget(ctx);
                    }
                }));
    }

    private void forget(Context.CancellableContext ended) {
        lock.lock();
        try {
            streams.remove(ended);
        } finally {
            lock.unlock();
        }
    }

    /** The parents that may still serve: for rescheduling, the others are excluded. */
    public List<Peer> unusable() {
        lock.lock();
        try {
            List<Peer> out = new ArrayList<>();
            for (ParentState s : parents.values()) {
                if (!usable(s)) {
                    out.add(s.peer);
                }
            }
            return out;
        } finally {
            lock.unlock();
        }
    }

    /**
     * How long the usable parents have held none of the pieces this child wanted to choose among ({@link #choosePiece}
     * found none), 0 while they hold some: what {@link ParentRefresh#starved} judges.
     */
    public long starvedNanos(long now) {
        lock.lock();
        try {
            return starvedSinceNanos == FED ? 0 : Math.max(0, now - starvedSinceNanos);
        } finally {
            lock.unlock();
        }
    }

    /** How many times parents answered busy so far (their upload slots were taken). */
    public long busyAnswers() {
        lock.lock();
        try {
            return busyAnswers;
        } finally {
            lock.unlock();
        }
    }

    /** How many parents can still deliver pieces. */
    public int usableCount() {
        lock.lock();
        try {
            return (int) parents.values().stream().filter(this::usable).count();
        } finally {
            lock.unlock();
        }
    }

    public boolean hasUsableParents() {
        lock.lock();
        try {
            return anyUsable();
        } finally {
            lock.unlock();
        }
    }

    /**
     * The piece to ask for next among {@code candidates} (pieces a caller wants that are neither stored nor being
     * fetched), or -1 when no usable parent holds any of them.
     */
    public int choosePiece(BitSet candidates) {
        long now = System.nanoTime();
        lock.lock();
        try {
            List<PieceSelector.Holder> holders = new ArrayList<>();
            for (ParentState s : parents.values()) {
                if (usable(s)) {
                    holders.add(new PieceSelector.Holder(s.held, s.load.hasRoom(now)));
                }
            }
            int chosen = selector.select(candidates, holders, received);
            if (chosen >= 0) {
                starvedSinceNanos = FED;
            } else if (starvedSinceNanos == FED) {
                starvedSinceNanos = now;
            }
            return chosen;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Fetches a piece from a parent that has it, waiting up to {@code wait} for one to announce it (less when
     * the parents announce nothing for {@link Timing#stall} from the later of their last announcement and this call),
     * and up to the piece timeout for a holder with room; null when none could deliver it (then the caller decides:
     * reschedule or the origin).
     *
     * @throws dev.pollen.agent.error.PollenException when the piece cannot be written locally (NO_SPACE when the disk is full)
     */
    public Fetched fetch(StoredTask target, int number, Duration wait) throws InterruptedException {
        long begun = System.nanoTime();
        long announceDeadline = begun + wait.toNanos();
        long roomDeadline = begun + pieceTimeout.toNanos();
        while (true) {
            InFlight f = claim(target, number, begun, announceDeadline, roomDeadline);
            if (f == null) {
                return null;
            }
            Fetched fetched = fetchFirst(f);
            if (fetched != null) {
                reporter.pieceFromParent(fetched);
                return fetched;
            }
        }
    }

    /** Waits for a holder of the piece with room and starts a request to it; null when there is none to wait for. */
    private InFlight claim(StoredTask target, int number, long begun, long announceDeadline, long roomDeadline)
            throws InterruptedException {
        lock.lock();
        try {
            while (true) {
                long now = System.nanoTime();
                ParentState chosen = pick(number, now, null);
                if (chosen != null) {
                    starvedSinceNanos = FED;
                    chosen.load.started(now);
                    InFlight f = new InFlight(number, target, chosen);
                    fetching.put(number, f);
                    endgame(now);
                    return f;
                }
                if (closed || !anyUsable()) {
                    return null;
                }
                long left;
                if (anyHolder(number)) {
                    // Held, but every holder's window is full or it said busy: wait for it, not for the origin.
                    left = Math.min(roomDeadline - now, nextBackoffEnd(number, now) - now);
                    if (roomDeadline - now <= 0) {
                        return null;
                    }
                } else {
                    // Silent parents are given the stall from this call on too: a caller that asks again after a
                    // reschedule named them again waits for them once more instead of being answered at once.
                    long silentSince = Math.max(lastAnnouncementNanos, begun);
                    left = Math.min(announceDeadline - now, silentSince + timing.stall().toNanos() - now);
                    if (left <= 0) {
                        return null;
                    }
                }
                changed.awaitNanos(Math.max(left, 1));
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Runs the first request on this thread; when a second one was started meanwhile and wins, or the first fails
     * while a second runs, the second's piece. Null when neither delivered: the caller picks a parent again.
     */
    private Fetched fetchFirst(InFlight f) throws InterruptedException {
        ParentState parent = f.first;
        InetSocketAddress address = addressOf(parent, f.number);
        Instant createdAt = Instant.now();
        long started = System.nanoTime();
        PieceRecord piece = null;
        Exception error = null;
        try {
            piece = vortex.fetch(address, f.target, f.number, deadline(f.firstCancelled, started, parent, f));
        } catch (InterruptedException e) {
            f.firstStopped.complete(null);
            stopRacing(f);
            settle(parent, f, 0, 0, null, true);
            throw e;
        } catch (IOException | RuntimeException e) {
            error = e;
        }
        f.firstStopped.complete(piece);
        long took = System.nanoTime() - started;
        if (piece != null) {
            stopRacing(f);
            settle(parent, f, piece.length(), took, null, false);
            return new Fetched(piece, parent.id(), createdAt, Duration.ofNanos(took));
        }
        if (error instanceof VortexException v && v.reason() == VortexException.Reason.LOCAL_WRITE_FAILED) {
            // Our disk failed, not the parent: it is neither dropped nor reported, and since the origin's
            // bytes would land on the same disk, the piece fails here and now.
            stopRacing(f);
            settle(parent, f, 0, 0, null, true);
            long wanted = v.getCause() instanceof LocalWriteException l ? l.bytesWanted() : 0;
            throw LocalStorageError.of("piece " + f.number + " of task " + taskId + " from parent " + parent.id(),
                    f.target.contentPath(), wanted, v);
        }
        settle(parent, f, 0, took, error, f.firstCancelled.get());
        CompletableFuture<Fetched> second;
        lock.lock();
        try {
            second = f.second;
            fetching.remove(f.number, f);
        } finally {
            lock.unlock();
        }
        if (second == null) {
            return null;
        }
        try {
            return second.get();
        } catch (InterruptedException e) {
            f.secondCancelled.set(true);
            throw e;
        } catch (ExecutionException e) {
            return null;
        }
    }

    /** The first request won or ended for good: no second one starts for it, and a running one is cancelled. */
    private void stopRacing(InFlight f) {
        f.secondCancelled.set(true);
        lock.lock();
        try {
            fetching.remove(f.number, f);
        } finally {
            lock.unlock();
        }
    }

    /**
     * The deadline a request reads again while its piece arrives: now when it was cancelled, else the parent's
     * slow limit from when it started.
     */
    private LongSupplier deadline(AtomicBoolean cancelled, long started, ParentState parent, InFlight f) {
        long bytes = ExpectedPiece.of(f.target.metadata(), f.number).length();
        return () -> cancelled.get() ? System.nanoTime() - 1 : started + slowLimitNanos(parent, f.number, bytes);
    }

    /**
     * Books a request's end: its pace, a busy answer, a slow or a failed parent. Reports outside the lock.
     *
     * @param cancelled the request was stopped by this side (it lost a race, or its caller went away): nobody's fault
     */
    private void settle(ParentState parent, InFlight f, long bytes, long tookNanos, Exception error, boolean cancelled) {
        int number = f.number;
        long pieceBytes = ExpectedPiece.of(f.target.metadata(), number).length();
        long now = System.nanoTime();
        String parentId = parent.id();
        boolean reportSlow = false;
        boolean reportFailed = false;
        lock.lock();
        try {
            if (error == null && bytes > 0) {
                parent.load.succeeded(bytes, tookNanos, now);
                received++;
            } else if (cancelled || error == null) {
                parent.load.ended(now);
            } else if (busy(error)) {
                parent.load.busy(now, timing.busyBackoff().toNanos());
                busyAnswers++;
                log.debug("event=parent_busy task={} piece={} parent={}", taskId, number, parentId);
            } else if (error instanceof VortexException v && v.reason() == VortexException.Reason.TIMEOUT
                    && tookNanos < pieceTimeout.toNanos()) {
                // A timeout before the full piece timeout can only be the slow-parent deadline's doing.
                log.info("event=parent_slow task={} piece={} parent={} gave_up_after_ms={} expected_ms={}", taskId, number, parentId,
                        TimeUnit.NANOSECONDS.toMillis(tookNanos), TimeUnit.NANOSECONDS.toMillis(parent.load.expectedNanos(pieceBytes)));
                parent.load.slow(now);
                slow.add(parentId);
                reportSlow = true;
            } else {
                log.warn("event=parent_failed task={} piece={} parent={} error=\"{}\"", taskId, number, parentId, error.toString());
                parent.load.ended(now);
                failed.add(parentId);
                reportFailed = true;
            }
            endgame(now);
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        if (reportSlow) {
            reporter.parentSlow(number, parentId);
        } else if (reportFailed) {
            reporter.parentFailed(number, parentId, error.toString());
        }
    }

    /** A parent's "busy" answer (Vortex error code 4): all its upload slots are taken, it has not failed. */
    private static boolean busy(Exception error) {
        return error instanceof VortexException v && v.isBusy();
    }

    /**
     * Starts the endgame's second requests: when every piece the task misses is being fetched here and they are
     * few, each gets a second holder with room (never the first's parent), if there is one.
     */
    private void endgame(long now) {
        if (fetching.isEmpty() || fetching.size() > Endgame.PIECES) {
            return;
        }
        StoredTask target = fetching.values().iterator().next().target;
        // Cheap enough: only reached with at most Endgame.PIECES in flight.
        int missing = target.metadata().pieceCount() - target.pieces().size();
        if (!Endgame.on(fetching.size(), missing)) {
            return;
        }
        for (InFlight f : fetching.values()) {
            if (f.second != null || f.firstStopped.isDone()) {
                continue;
            }
            ParentState other = pick(f.number, now, f.first);
            if (other != null) {
                other.load.started(now);
                f.second = new CompletableFuture<>();
                InetSocketAddress address = other.pieces.get(f.number);
                Thread.ofVirtual().name("endgame-" + taskId.substring(0, 8) + "-" + f.number)
                        .start(() -> fetchSecond(f, other, address));
            }
        }
    }

    /**
     * The endgame's second request, into a scratch file. When it arrives first, the first request is cancelled and
     * awaited; its bytes are copied into the content only if the first did not record the piece after all.
     */
    private void fetchSecond(InFlight f, ParentState parent, InetSocketAddress address) {
        Instant createdAt = Instant.now();
        long started = System.nanoTime();
        Path scratch = f.target.contentPath().resolveSibling("endgame-" + f.number + ".part");
        PieceRecord piece = null;
        Exception error = null;
        boolean local = false;
        try (FileChannel out = FileChannel.open(scratch, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            try {
                piece = vortex.receive(address, f.target, f.number, out, 0, deadline(f.secondCancelled, started, parent, f));
            } catch (VortexException e) {
                error = e;
                local = e.reason() == VortexException.Reason.LOCAL_WRITE_FAILED;
            } catch (IOException | RuntimeException e) {
                error = e;
            }
            long took = System.nanoTime() - started;
            settle(parent, f, piece == null ? 0 : piece.length(), took, local ? null : error, f.secondCancelled.get() || local);
            if (piece == null) {
                f.second.complete(null);
                return;
            }
            f.firstCancelled.set(true);
            if (f.firstStopped.get() != null) {
                // The first request recorded the piece while this one was being checked: nothing to copy.
                f.second.complete(null);
                return;
            }
            copy(out, f.target.content(), piece.offset(), piece.length());
            f.target.recordPiece(piece);
            f.second.complete(new Fetched(piece, parent.id(), createdAt, Duration.ofNanos(took)));
        } catch (IOException | ExecutionException | RuntimeException e) {
            // The scratch file or the copy failed on our disk: the first request's caller tries the piece again.
            log.warn("event=endgame_copy_failed task={} piece={} error=\"{}\"", taskId, f.number, e.toString());
            if (piece == null) {
                settle(parent, f, 0, 0, null, true);
            }
            f.second.complete(null);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            f.second.complete(null);
        } finally {
            try {
                Files.deleteIfExists(scratch);
            } catch (IOException e) {
                log.debug("event=endgame_scratch_left task={} path={} error=\"{}\"", taskId, scratch, e.toString());
            }
        }
    }

    private static void copy(FileChannel from, FileChannel to, long offset, long length) throws IOException {
        from.position(0);
        long done = 0;
        while (done < length) {
            long n = to.transferFrom(from, offset + done, length - done);
            if (n <= 0) {
                throw new IOException("scratch file ended after " + done + " of " + length + " bytes");
            }
            done += n;
        }
    }

    private InetSocketAddress addressOf(ParentState parent, int number) {
        lock.lock();
        try {
            return parent.pieces.get(number);
        } finally {
            lock.unlock();
        }
    }

    private boolean usable(ParentState s) {
        return !s.gone && !failed.contains(s.id()) && !slow.contains(s.id());
    }

    private boolean anyUsable() {
        return parents.values().stream().anyMatch(this::usable);
    }

    private boolean anyHolder(int number) {
        return parents.values().stream().anyMatch(s -> usable(s) && s.pieces.containsKey(number));
    }

    /** The soonest a holder of the piece that said busy may be asked again; far away when none did. */
    private long nextBackoffEnd(int number, long now) {
        long soonest = now + pieceTimeout.toNanos();
        for (ParentState s : parents.values()) {
            if (usable(s) && s.pieces.containsKey(number) && s.load.backingOff(now) && s.load.backoffUntil() - soonest < 0) {
                soonest = s.load.backoffUntil();
            }
        }
        return soonest;
    }

    /** How long piece {@code number} from {@code parent} may take ({@link ParentLoad#slowLimitNanos}). */
    private long slowLimitNanos(ParentState parent, int number, long bytes) {
        lock.lock();
        try {
            boolean alternatives = parents.values().stream()
                    .anyMatch(s -> s != parent && usable(s) && s.pieces.containsKey(number));
            return parent.load.slowLimitNanos(bytes, alternatives, pieceTimeout.toNanos(), timing.slowFloor().toNanos());
        } finally {
            lock.unlock();
        }
    }

    /** The holder of the piece with room to ask ({@link ParentLoad#beats}); null when none has room. */
    private ParentState pick(int number, long now, ParentState except) {
        ParentState best = null;
        for (ParentState s : parents.values()) {
            if (s == except || !usable(s) || !s.pieces.containsKey(number) || !s.load.hasRoom(now)) {
                continue;
            }
            if (best == null || s.load.beats(s.seed(), best.load, best.seed())) {
                best = s;
            }
        }
        return best;
    }

    private void available(ParentState state, int number, InetSocketAddress address) {
        lock.lock();
        try {
            state.pieces.put(number, address);
            state.held.set(number);
            lastAnnouncementNanos = System.nanoTime();
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private void gone(ParentState state, String why) {
        lock.lock();
        try {
            if (!closed && !state.gone) {
                log.info("event=parent_gone task={} parent={} cause=\"{}\"", taskId, state.id(), why);
            }
            state.gone = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void close() {
        List<Context.CancellableContext> ending;
        lock.lock();
        try {
            closed = true;
            ending = new ArrayList<>(streams);
            fetching.values().forEach(f -> f.secondCancelled.set(true));
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        ending.forEach(ctx -> ctx.cancel(null));
    }
}
