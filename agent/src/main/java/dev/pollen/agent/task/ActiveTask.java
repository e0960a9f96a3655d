package dev.pollen.agent.task;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.metrics.AgentMetrics;
import dev.pollen.agent.origin.OriginClient;
import dev.pollen.agent.origin.OriginResponse;
import dev.pollen.agent.origin.OriginStreamSource;
import dev.pollen.agent.origin.PieceSource;
import dev.pollen.agent.peer.P2p;
import dev.pollen.agent.peer.ParentSet;
import dev.pollen.agent.peer.PeerDownload;
import dev.pollen.scheduler.client.Decision;
import dev.pollen.agent.storage.ContentDigest;
import dev.pollen.agent.storage.LocalStorageError;
import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.storage.StoredTask;
import dev.pollen.agent.storage.TaskMetadata;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.nio.channels.ClosedChannelException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A task that at least one request is using: the one place where its pieces are claimed, so however
 * many callers ask, each missing piece is fetched once. A caller asks for a piece and gets a future;
 * the first ask starts the fetch, later asks share it.
 *
 * <p>The monitor guards only in-memory bookkeeping: no network I/O, sleep or fsync runs under it, so a
 * caller, housekeeping ({@link #busy}) or the task manager never waits behind the origin or the disk.
 */
public final class ActiveTask {
    private static final Logger log = LoggerFactory.getLogger(ActiveTask.class);

    /** How far a caller may go to learn what a task is; each reach includes the ones before it. */
    enum Reach {
        /** Only from disk: uploads serve what is here and never make a node fetch. */
        STORED,
        /** From disk or from parents the scheduler names (back-to-source disabled). */
        PEERS,
        /** From disk, parents or the origin. */
        ORIGIN
    }

    /** One caller learning what the task is; later callers join it instead of asking again. */
    private record Preparation(Reach reach, CompletableFuture<Void> done, CompletableFuture<Void> diskChecked) {
    }

    private volatile TaskSpec spec;
    private final String id;
    private final Storage storage;
    private final OriginClient origin;
    private final PieceSource originPieces;
    private final OriginStreamSource originStream;
    private final ExecutorService executor;
    private final Semaphore slots;
    private final Clock clock;
    private final P2p p2p;
    private final AgentMetrics metrics;

    private final Map<Integer, CompletableFuture<ReadyPiece>> inFlight = new HashMap<>();
    private final List<Consumer<PieceRecord>> pieceListeners = new CopyOnWriteArrayList<>();
    private volatile StoredTask store;
    /** A blob's digest as its pieces land; guarded by this. */
    private PrefixHash blobHash;
    private Preparation preparing;
    private URI resolved;
    private OriginResponse pendingStream;
    private CompletableFuture<Long> stream;
    /** When the stream's current piece began (System.nanoTime): the previous piece's end. */
    private final AtomicLong streamPieceBegan = new AtomicLong();
    /** Pieces that parents could not deliver are logged once per task, not once per piece. */
    private final AtomicBoolean piecesFromOriginLogged = new AtomicBoolean();
    private PeerDownload peer;
    /** Registering a task loaded from disk unfinished with the scheduler, once; later downloaders wait for it. */
    private CompletableFuture<Void> resumption;
    /** While the last piece's caller makes the content durable: no second caller finishes, nobody closes. */
    private boolean finishing;
    /** Completes when the task is finished, or fails when it cannot be (its content failed its blob digest). */
    private final CompletableFuture<Void> completion = new CompletableFuture<>();
    /** Completes when every piece is in and a blob matched its digest, before the fsync; fails as completion does. */
    private final CompletableFuture<Void> verified = new CompletableFuture<>();
    /** The content did not match its blob digest: the task is being dropped. */
    private volatile boolean rejected;
    private final Consumer<ActiveTask> onRejected;
    final AtomicInteger references = new AtomicInteger();

    /** @param onRejected told once when the content fails its blob digest, so the task is dropped */
    ActiveTask(String id, TaskSpec spec, Storage storage, OriginClient origin, PieceSource originPieces, OriginStreamSource originStream,
               ExecutorService executor, int concurrentPieces, Clock clock, P2p p2p, AgentMetrics metrics,
               Consumer<ActiveTask> onRejected) {
        this.onRejected = onRejected;
        this.spec = spec;
        this.id = id;
        this.storage = storage;
        this.origin = origin;
        this.originPieces = originPieces;
        this.originStream = originStream;
        this.executor = executor;
        this.slots = new Semaphore(concurrentPieces, true);
        this.clock = clock;
        this.p2p = p2p;
        this.metrics = metrics;
    }

    public String id() {
        return id;
    }

    /**
     * The latest downloader's request: its url and headers (credentials may have been refreshed) reach
     * the origin from now on. A task leased only for uploads has no real request until then.
     */
    void useRequest(TaskSpec request) {
        spec = request;
    }

    /** The peer id this task is registered under with the scheduler, null when it is not (or no longer) registered. */
    synchronized String peerId() {
        return peer == null ? null : peer.peerId();
    }

    public StoredTask store() {
        return store;
    }

    /**
     * Completes once the task is finished: its whole content matched its digest (for a blob), and is durable, so
     * the store, peers and housekeeping may count on it. Fails with {@link ErrorCode#DIGEST_MISMATCH} when the content
     * did not match, or with the error that kept it from being finished. Pending while pieces are missing.
     */
    public CompletableFuture<Void> completion() {
        return finished() ? CompletableFuture.completedFuture(null) : completion;
    }

    /**
     * Completes once every piece is in and, for a blob, the whole matched its digest: the bytes are right, but may not
     * be on the disk yet (forcing them there can take seconds, and {@link #completion} waits for it). For a reader
     * that only needs the bytes, such as a client of the registry mirror. Fails as {@link #completion} does before
     * that point; an fsync that fails afterwards fails only {@link #completion}.
     */
    public CompletableFuture<Void> verified() {
        return finished() ? CompletableFuture.completedFuture(null) : verified;
    }

    private boolean finished() {
        StoredTask current = store;
        return current != null && current.metadata().finished();
    }

    /** The content failed its blob digest: nothing of it may be served, the task is being dropped. */
    public boolean rejected() {
        return rejected;
    }

    /** Whether parents named by the scheduler serve this task now (its pieces then come from peers). */
    public synchronized boolean followsParents() {
        return peer != null && peer.hasParents();
    }

    public TaskMetadata metadata() {
        return store.metadata();
    }

    /** Pieces asked for and not yet landed or failed (each holds a future and, while fetched, a thread). */
    synchronized int inFlightCount() {
        return inFlight.size();
    }

    /**
     * Loads the task from disk, or asks the network what it is and creates it; cheap once done. Runs once
     * per task however many callers ask at the same time: the first runs it, outside any lock, and the
     * others join it. A failure is not kept: it is reported to the callers that joined, and the next
     * caller tries again (at once, when the one that failed could not reach as far as it may).
     *
     * @param cancelled completes when the caller goes away; it then stops waiting for another's preparation
     * @return false only for {@link Reach#STORED}: the task is not on disk, or another caller found it is not
     *     and is asking the network (an upload waits for another's look at the disk, never for its network
     *     questions: two peers could each wait for the other)
     */
    boolean prepare(Reach reach, CompletableFuture<?> cancelled) throws IOException {
        while (true) {
            Preparation running;
            boolean mine = false;
            synchronized (this) {
                if (store != null) {
                    if (reach == Reach.STORED || !resumeAsPeerPending()) {
                        return true;
                    }
                    running = null;
                } else {
                    if (preparing == null) {
                        preparing = new Preparation(reach, new CompletableFuture<>(), new CompletableFuture<>());
                        mine = true;
                    }
                    running = preparing;
                }
            }
            if (!mine && reach == Reach.STORED) {
                return storedOnceChecked(running, cancelled);
            }
            if (running == null) {
                resumeAsPeer(cancelled);
                return true;
            }
            if (mine) {
                if (!run(running)) {
                    return false;
                }
                // Loaded or created: the next turn returns, or first registers a task found on disk unfinished.
                continue;
            }
            try {
                CompletableFuture.anyOf(running.done(), cancelled).get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new PollenException(ErrorCode.INTERNAL, "interrupted while task " + id + " was being prepared", e);
            } catch (ExecutionException e) {
                if (running.reach().compareTo(reach) < 0) {
                    continue;
                }
                throw rethrow(e.getCause());
            }
            if (!running.done().isDone()) {
                throw new CancellationException("the caller went away");
            }
        }
    }

    /**
     * An upload's answer while another caller prepares the task: it waits for the disk to be checked (quick), never
     * for the network (two peers could each wait for the other), and says whether the task was found there.
     */
    private boolean storedOnceChecked(Preparation running, CompletableFuture<?> cancelled) {
        try {
            CompletableFuture.anyOf(running.diskChecked(), cancelled).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } catch (ExecutionException e) {
            return false;
        }
        synchronized (this) {
            return store != null;
        }
    }

    private boolean run(Preparation preparation) throws IOException {
        try {
            boolean ready = learn(preparation);
            synchronized (this) {
                preparing = null;
            }
            if (ready) {
                preparation.done().complete(null);
            } else {
                preparation.done().completeExceptionally(new PollenException(ErrorCode.TASK_NOT_FOUND,
                        "task " + id + " is not stored on this node"));
            }
            return ready;
        } catch (IOException | RuntimeException | Error e) {
            synchronized (this) {
                preparing = null;
            }
            preparation.done().completeExceptionally(e);
            throw e;
        } finally {
            preparation.diskChecked().complete(null);
        }
    }

    /** What {@link #prepare} does once; false when the task is not on disk and the reach is the disk. */
    private boolean learn(Preparation preparation) throws IOException {
        Reach reach = preparation.reach();
        StoredTask stored = storage.open(id);
        if (stored != null) {
            log.info("event=task_loaded task={} finished={} stored_pieces={}", id, stored.metadata().finished(),
                    stored.pieces().size());
            publish(stored, null, null, null);
            preparation.diskChecked().complete(null);
            if (reach != Reach.STORED && spec.blobDigest() != null) {
                // Every piece in but not finished (the daemon stopped before the check): a blob is checked now, or
                // its waiters would wait for a last piece that never lands.
                finishIfComplete();
            }
            return true;
        }
        preparation.diskChecked().complete(null);
        if (reach == Reach.STORED) {
            return false;
        }
        synchronized (this) {
            // This preparation asks the scheduler itself: nothing to resume afterwards, whatever it answers.
            resumption = CompletableFuture.completedFuture(null);
        }
        TaskSpec request = spec;
        // As Dragonfly's dfdaemon does: the length first (a one-byte range request), then the scheduler, told it.
        OriginProbe probe = OriginProbe.of(origin, request);
        PeerDownload registered = null;
        try {
            if (p2p == null) {
                backToSource(BackToSourceReason.NO_SCHEDULER, "");
            } else {
                long length = probe.length();
                registered = PeerDownload.register(p2p, id, request.toDownload(length,
                        length < 0 ? 0 : PieceLengths.forTask(request.url(), length, request.pieceLength())));
                if (registered == null) {
                    backToSource(BackToSourceReason.SCHEDULER_UNAVAILABLE, "");
                } else if (follow(request, registered, probe)) {
                    return true;
                }
            }
            prepareFromOrigin(request, registered, probe, reach == Reach.ORIGIN);
            return true;
        } catch (IOException | RuntimeException e) {
            probe.close();
            if (registered != null) {
                // Not yet the task's peer: the scheduler hears of the failure now, not when the task is closed.
                registered.failed(String.valueOf(e.getMessage()));
                registered.close();
            }
            throw e;
        }
    }

    /**
     * Does what the scheduler said, as far as peers can: parents, or an empty task the origin agrees is empty.
     * False when the origin is needed (the reason is logged).
     */
    private boolean follow(TaskSpec request, PeerDownload registered, OriginProbe probe) throws IOException {
        switch (registered.decision()) {
            case Decision.Parents parents -> {
                long length = probe.length() >= 0 ? probe.length() : lengthFromParents(registered);
                if (length < 0) {
                    backToSource(BackToSourceReason.NO_PARENT_KNOWS_LENGTH, "");
                    return false;
                }
                probe.close();
                createFromParents(request, registered, length, probe.headers());
                return true;
            }
            case Decision.Empty empty -> {
                if (probe.length() == 0) {
                    return false;
                }
                // Dragonfly's scheduler reads a length nobody reported as 0: an empty answer is believed only when
                // the origin agrees (a length of 0 is served as an empty file by the origin path, which needs no bytes).
                backToSource(BackToSourceReason.EMPTY_TASK_CONTRADICTS_ORIGIN,
                        "origin_length=" + (probe.length() < 0 ? "unknown" : probe.length()));
                return false;
            }
            case Decision.BackToSource b -> {
                backToSource(BackToSourceReason.SCHEDULER_DECIDED, "description=\"" + b.reason() + "\"");
                return false;
            }
        }
    }

    private long lengthFromParents(PeerDownload registered) {
        try {
            return registered.lengthFromParents();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    /** One line per fallback to the origin, saying why. */
    private void backToSource(BackToSourceReason reason, String detail) {
        log.info("event=back_to_source task={} reason={}{}", id, reason.token(), detail.isEmpty() ? "" : " " + detail);
        metrics.backToSource(reason.token());
    }

    /**
     * Whether a download must first register this task, loaded from disk unfinished (after a restart, or by an
     * upload's lease), with the scheduler: without it every missing piece would come from the origin.
     */
    private boolean resumeAsPeerPending() {
        if (resumption != null) {
            return !resumption.isDone();
        }
        TaskMetadata meta = store.metadata();
        return p2p != null && peer == null && !meta.finished() && meta.lengthKnown() && meta.rangeSupported();
    }

    /** Registers the stored task with the scheduler once and follows the parents it names; others wait for that. */
    private void resumeAsPeer(CompletableFuture<?> cancelled) {
        CompletableFuture<Void> done;
        boolean mine = false;
        synchronized (this) {
            if (resumption == null) {
                resumption = new CompletableFuture<>();
                mine = true;
            }
            done = resumption;
        }
        if (!mine) {
            // Bounded: registration waits at most scheduler.scheduleTimeout, parents are followed in the background.
            CompletableFuture.anyOf(done, cancelled).join();
            return;
        }
        try {
            StoredTask stored = store;
            TaskMetadata meta = stored.metadata();
            PeerDownload registered = PeerDownload.register(p2p, id, spec.toDownload(meta.contentLength(), meta.pieceLength()));
            if (registered == null) {
                backToSource(BackToSourceReason.SCHEDULER_UNAVAILABLE, "");
                return;
            }
            if (registered.decision() instanceof Decision.Parents) {
                registered.followParents(meta);
                registered.reportStarted();
            } else {
                backToSource(registered.decision() instanceof Decision.Empty ? BackToSourceReason.EMPTY_TASK_CONTRADICTS_ORIGIN
                        : BackToSourceReason.SCHEDULER_DECIDED, "");
                registered.startFromOrigin();
            }
            synchronized (this) {
                peer = registered;
            }
            log.info("event=task_resumed task={} stored_pieces={} of={} decision={}", id, stored.pieces().size(),
                    meta.pieceCount(), registered.decision().getClass().getSimpleName());
        } finally {
            done.complete(null);
        }
    }

    /** Makes what {@link #prepare} learned the task's state, all at once. */
    private synchronized void publish(StoredTask created, PeerDownload registered, URI location, OriginResponse firstStream) {
        peer = registered;
        resolved = location;
        pendingStream = firstStream;
        store = created;
    }

    /**
     * Creates the task from the origin's answer to the probe (a ranged task, or one streamed from that very
     * answer). The scheduler hears that this peer started only once the task exists here, so no child it is
     * named to can find it missing.
     */
    private void prepareFromOrigin(TaskSpec request, PeerDownload registered, OriginProbe probe, boolean backToSourceAllowed)
            throws IOException {
        if (!backToSourceAllowed) {
            probe.close();
            throw new PollenException(ErrorCode.BACK_TO_SOURCE_DISABLED, "no peer has task " + id + " of " + request.url()
                    + " and back-to-source is disabled (fix: drop --disable-back-to-source)");
        }
        OriginResponse response = probe.response();
        long length = response.totalLength();
        long pieceLength = PieceLengths.forTask(request.url(), length, request.pieceLength());
        boolean ranged = response.partial() && length >= 0;
        OriginResponse firstStream = null;
        if (ranged) {
            try (InputStream ignored = response.body()) {
                ignored.transferTo(OutputStream.nullOutputStream());
            }
        } else if (response.partial()) {
            response.body().close();
        } else {
            firstStream = response;
        }
        try {
            StoredTask created = storage.create(TaskMetadata.started(id, request.url(), length, pieceLength, ranged,
                    OriginProbe.contentHeaders(response), clock.instant()));
            log.info("event=task_created task={} url={} content_length={} piece_length={} ranges={}", id, request.url(), length,
                    pieceLength, ranged);
            if (length == 0) {
                created.finish();
            }
            // An empty task is done once created: its peer reports the whole download now and leaves.
            publish(created, length == 0 ? null : registered, response.uri(), firstStream);
        } catch (IOException | RuntimeException e) {
            closeQuietly(firstStream);
            throw e;
        }
        if (registered == null) {
            return;
        }
        if (length != 0) {
            registered.startFromOrigin();
        } else if (registered.decision() instanceof Decision.Empty) {
            registered.emptyTask();
        } else {
            registered.startFromOrigin();
            registered.finished();
            registered.close();
        }
    }

    /** Creates the task at the length the origin or the parents gave, and downloads it from the parents. */
    private void createFromParents(TaskSpec request, PeerDownload registered, long length, Map<String, List<String>> headers)
            throws IOException {
        long pieceLength = PieceLengths.forTask(request.url(), length, request.pieceLength());
        // Ranges are assumed for the origin fallback; an origin that ignores them switches the task to a stream.
        StoredTask created = storage.create(TaskMetadata.started(id, request.url(), length, pieceLength, true, headers,
                clock.instant()));
        log.info("event=task_created task={} url={} content_length={} piece_length={} source=parents", id, request.url(), length,
                pieceLength);
        if (length == 0) {
            created.finish();
            publish(created, null, null, null);
            registered.emptyTask();
            return;
        }
        // Parents followed before the task is published (a caller that joins then asks them, not the origin),
        // Started reported after (a child the scheduler then sends here finds the task).
        registered.followParents(created.metadata());
        publish(created, registered, null, null);
        registered.reportStarted();
    }

    /** Reports the end of this node's download of the task to the scheduler and leaves its stream. */
    private void endPeer(String failure) {
        PeerDownload ending;
        synchronized (this) {
            ending = peer;
            peer = null;
        }
        if (ending != null) {
            if (failure == null) {
                ending.finished();
            } else {
                ending.failed(failure);
            }
            ending.close();
        }
    }

    /**
     * The piece a caller should ask for next among {@code unasked} (not empty). One that starts no fetch comes
     * first (stored, or already asked for by another caller); then, while parents serve the task, the one their
     * announcements make best (random first, then rarest: see {@code PieceSelector}), so that children of the same
     * parents soon hold different pieces; otherwise the lowest.
     */
    public int nextPiece(BitSet unasked) {
        PeerDownload parents;
        BitSet candidates = new BitSet();
        synchronized (this) {
            for (int n = unasked.nextSetBit(0); n >= 0; n = unasked.nextSetBit(n + 1)) {
                if (store.piece(n) != null || inFlight.containsKey(n)) {
                    return n;
                }
                candidates.set(n);
            }
            parents = peer != null && peer.hasParents() && store.metadata().rangeSupported() ? peer : null;
        }
        // Outside the monitor: the parents' choice takes their own lock.
        int chosen = parents == null ? -1 : parents.choosePiece(candidates);
        return chosen >= 0 ? chosen : unasked.nextSetBit(0);
    }

    /** A future that completes when piece {@code number} is on disk; the first caller's ask starts the fetch. */
    public synchronized CompletableFuture<ReadyPiece> piece(int number, boolean backToSourceAllowed) {
        PieceRecord stored = store.piece(number);
        if (stored != null) {
            // On disk before this caller asked: for it, the piece came from the local cache.
            return CompletableFuture.completedFuture(ReadyPiece.local(stored, clock.instant()));
        }
        TaskMetadata meta = store.metadata();
        int count = meta.pieceCount();
        if (count >= 0 && number >= count) {
            return CompletableFuture.failedFuture(new NoSuchPieceException(number, count));
        }
        CompletableFuture<ReadyPiece> pending = inFlight.get(number);
        if (pending != null) {
            return pending;
        }
        if (peer != null && peer.hasParents() && meta.rangeSupported()) {
            CompletableFuture<ReadyPiece> future = new CompletableFuture<>();
            inFlight.put(number, future);
            fetchInBackground(number, backToSourceAllowed);
            return future;
        }
        if (!backToSourceAllowed) {
            return CompletableFuture.failedFuture(new PollenException(ErrorCode.BACK_TO_SOURCE_DISABLED, "piece " + number
                    + " of task " + id + " is on no peer and back-to-source is disabled (fix: drop --disable-back-to-source)"));
        }
        CompletableFuture<ReadyPiece> future = new CompletableFuture<>();
        inFlight.put(number, future);
        if (meta.rangeSupported()) {
            fetchInBackground(number, true);
        } else {
            startStream();
        }
        return future;
    }

    /** Starts the fetch of a claimed piece; a daemon that is stopping fails it instead of leaving its waiters. */
    private void fetchInBackground(int number, boolean backToSourceAllowed) {
        try {
            executor.execute(() -> fetchPiece(number, backToSourceAllowed));
        } catch (RejectedExecutionException stopping) {
            failPiece(number, new PollenException(ErrorCode.INTERNAL, "dfdaemon is stopping; piece " + number + " of task "
                    + id + " was not fetched (fix: run the download again once it is back)", stopping));
        }
    }

    /** From a parent when there are parents, else (or when none delivers it) from the origin by a range request. */
    private void fetchPiece(int number, boolean backToSourceAllowed) {
        try {
            slots.acquire();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            failPiece(number, e);
            return;
        }
        try {
            PeerDownload parents;
            synchronized (this) {
                parents = peer;
            }
            if (parents != null && parents.hasParents()) {
                ParentSet.Fetched fetched = parents.fetch(store, number);
                if (fetched != null) {
                    pieceReady(new ReadyPiece(fetched.piece(), PieceOrigin.REMOTE_PEER, fetched.parentId(), fetched.createdAt(),
                            fetched.cost()));
                    return;
                }
                if (!backToSourceAllowed) {
                    failPiece(number, new PollenException(ErrorCode.BACK_TO_SOURCE_DISABLED, "no parent could deliver piece "
                            + number + " of task " + id + " and back-to-source is disabled (fix: drop --disable-back-to-source)"));
                    return;
                }
                if (piecesFromOriginLogged.compareAndSet(false, true)) {
                    backToSource(BackToSourceReason.NO_PARENT_DELIVERED, "piece=" + number);
                } else {
                    log.debug("event=piece_from_origin task={} piece={} reason={}", id, number,
                            BackToSourceReason.NO_PARENT_DELIVERED.token());
                }
            }
            Instant createdAt = clock.instant();
            long started = System.nanoTime();
            PieceRecord record = originPieces.fetch(target(), number);
            pieceReady(fromOrigin(record, createdAt, started));
        } catch (PieceSource.RangeIgnoredException e) {
            log.info("event=origin_ignores_ranges task={} url={} action=stream", id, spec.url());
            try {
                switchToStream();
            } catch (IOException io) {
                failPiece(number, LocalStorageError.of("metadata of task " + id, store.contentPath(), 0, io));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            failPiece(number, e);
        } catch (RuntimeException | Error e) {
            // Whatever happens, the piece's waiters must hear of it rather than wait forever.
            failPiece(number, e);
        } finally {
            slots.release();
        }
    }

    /** The origin ignored a range request: the task is stored as one that streams, and the stream starts. */
    private void switchToStream() throws IOException {
        StoredTask task = store;
        if (task.metadata().rangeSupported()) {
            // The metadata write syncs to disk: done before taking the monitor (a second writer writes the same).
            task.updateMetadata(task.metadata().withoutRanges());
        }
        startStream();
    }

    private synchronized void startStream() {
        if (stream != null) {
            return;
        }
        OriginResponse first = pendingStream;
        pendingStream = null;
        streamPieceBegan.set(System.nanoTime());
        stream = CompletableFuture.supplyAsync(() -> originStream.streamAll(target(), first, this::streamed), executor);
        // Async: a stream that ended already would otherwise finish the task (fsyncs) under this monitor.
        stream.whenCompleteAsync((length, error) -> streamEnded(error), executor);
    }

    /** A piece cut from the stream; what it throws ends the stream, and every waiter hears of it. */
    private void streamed(PieceRecord record) {
        PieceLengths.checkStreamed(spec.url(), record.number(), store.metadata().pieceLength());
        // A stream has no per-piece start: each piece began where the one before it ended.
        long now = System.nanoTime();
        long began = streamPieceBegan.getAndSet(now);
        pieceReady(fromOrigin(record, clock.instant().minusNanos(now - began), began));
    }

    private void streamEnded(Throwable error) {
        Map<Integer, CompletableFuture<ReadyPiece>> ended = new HashMap<>();
        int count;
        synchronized (this) {
            stream = null;
            count = store.metadata().pieceCount();
            for (var it = inFlight.entrySet().iterator(); it.hasNext(); ) {
                Map.Entry<Integer, CompletableFuture<ReadyPiece>> e = it.next();
                if (error != null || e.getKey() >= count) {
                    ended.put(e.getKey(), e.getValue());
                    it.remove();
                }
            }
        }
        // Outside the lock: completing a future resumes its waiters' callbacks.
        ended.forEach((number, waiting) -> waiting.completeExceptionally(
                error != null ? unwrap(error) : new NoSuchPieceException(number, count)));
        if (error == null) {
            finishIfComplete();
        }
    }

    /**
     * Calls {@code listener} with every piece that lands from now on (uploads stream them to peers
     * while this task is still downloading); returns the unsubscribe action.
     */
    public Runnable onPiece(Consumer<PieceRecord> listener) {
        pieceListeners.add(listener);
        return () -> pieceListeners.remove(listener);
    }

    private static ReadyPiece fromOrigin(PieceRecord record, Instant createdAt, long startedNanos) {
        return new ReadyPiece(record, PieceOrigin.BACK_TO_SOURCE, "", createdAt, Duration.ofNanos(System.nanoTime() - startedNanos));
    }

    private void pieceReady(ReadyPiece ready) {
        PieceRecord record = ready.record();
        metrics.pieceFetched(ready.origin().label(), ready.cost().toNanos());
        CompletableFuture<ReadyPiece> waiting;
        PeerDownload reporting;
        synchronized (this) {
            waiting = inFlight.remove(record.number());
            reporting = ready.origin() == PieceOrigin.BACK_TO_SOURCE ? peer : null;
        }
        // Outside the lock: listeners take their own locks (an upload stream's), and waiters resume. Neither the
        // report nor a listener can keep the piece from its waiter: whatever they throw is theirs alone.
        if (reporting != null) {
            try {
                reporting.pieceFromOrigin(record, ready.createdAt(), ready.cost());
            } catch (RuntimeException e) {
                log.warn("event=piece_report_failed task={} piece={} error=\"{}\"", id, record.number(), e.toString());
            }
        }
        for (Consumer<PieceRecord> listener : pieceListeners) {
            try {
                listener.accept(record);
            } catch (RuntimeException e) {
                pieceListeners.remove(listener);
                log.warn("event=piece_listener_failed task={} piece={} action=dropped error=\"{}\"", id, record.number(),
                        e.toString());
            }
        }
        // Claimed before the waiter resumes: it may hard-link the content to an output the user then writes to.
        OptionalLong completedAt = claimFinish();
        if (waiting != null) {
            waiting.complete(ready);
        }
        if (spec.blobDigest() != null) {
            try {
                blobHash().advance();
            } catch (IOException e) {
                // finish() hashes what is left, and reports a content it cannot read
                log.debug("event=blob_hash_deferred task={} error=\"{}\"", id, e.toString());
            }
        }
        completedAt.ifPresent(this::finish);
    }

    private synchronized PrefixHash blobHash() {
        StoredTask current = store;
        if (blobHash == null || !blobHash.hashes(current)) {
            blobHash = new PrefixHash(current, spec.blobDigest());
        }
        return blobHash;
    }

    private void failPiece(int number, Throwable error) {
        CompletableFuture<ReadyPiece> waiting;
        synchronized (this) {
            waiting = inFlight.remove(number);
        }
        if (waiting != null) {
            waiting.completeExceptionally(error);
        }
    }

    private void finishIfComplete() {
        claimFinish().ifPresent(this::finish);
    }

    /**
     * When every piece is in and nobody finishes the task yet: claims the finishing and returns the content's
     * modification time as of now; otherwise empty.
     */
    private synchronized OptionalLong claimFinish() {
        TaskMetadata meta = store.metadata();
        if (finishing || meta.finished() || !meta.lengthKnown() || store.pieces().size() != meta.pieceCount()) {
            return OptionalLong.empty();
        }
        try {
            long modified = store.contentModifiedMillis();
            finishing = true;
            return OptionalLong.of(modified);
        } catch (IOException e) {
            log.error("event=task_finish_failed task={} error=\"{}\"", id, e.toString());
            return OptionalLong.empty();
        }
    }

    /**
     * Forcing the content to disk takes seconds for a big file (longer when every agent on the machine does
     * it at once): no lock is held meanwhile, so the output, other downloads of this task and uploads from it
     * are not held up. Until it is done the task is complete but not yet "finished".
     */
    private void finish(long contentModifiedMillis) {
        try {
            ContentDigest expected = spec.blobDigest();
            if (expected != null) {
                String actual = blobHash().finish();
                if (!actual.equals(expected.expected())) {
                    reject(expected, actual);
                    return;
                }
            }
            // The bytes are all in and right: readers of them need not wait for the fsync (the store still does).
            verified.complete(null);
            store.finish(contentModifiedMillis);
            log.info("event=task_finished task={} content_length={}", id, store.metadata().contentLength());
            endPeer(null);
            completion.complete(null);
        } catch (ClosedChannelException e) {
            // The daemon is stopping: the task stays unfinished and is re-checked on the next start.
            log.warn("event=task_finish_interrupted task={} reason=shutdown", id);
            failed(e);
        } catch (IOException e) {
            log.error("event=task_finish_failed task={} error=\"{}\"", id, e.toString());
            failed(e);
        } finally {
            synchronized (this) {
                finishing = false;
            }
        }
    }

    /**
     * Every piece is in, and together they are not the blob the task is named after (a parent or the origin sent
     * other bytes): the task is never marked finished, its waiters hear why, and it is dropped.
     */
    private void reject(ContentDigest expected, String actual) {
        rejected = true;
        log.warn("event=task_digest_mismatch task={} url={} expected={} actual={}:{} action=discarded", id, spec.url(),
                expected, expected.algorithm(), actual);
        PeerDownload implicating;
        synchronized (this) {
            implicating = peer;
        }
        if (implicating != null) {
            implicating.contentRejected();
        }
        endPeer("content does not match its digest " + expected);
        failed(new PollenException(ErrorCode.DIGEST_MISMATCH, "content of task " + id + " from "
                + spec.url() + " does not match its digest: expected " + expected + ", got " + expected.algorithm() + ":"
                + actual + " (the task is dropped; the next request fetches it again)"));
        onRejected.accept(this);
    }

    /** The task will not be finished: whoever waits hears why (a verdict already given stands). */
    private void failed(Throwable error) {
        verified.completeExceptionally(error);
        completion.completeExceptionally(error);
    }

    private synchronized PieceSource.Target target() {
        URI uri = resolved != null ? resolved : spec.uri();
        // Requests go straight to where the probe was redirected: credentials only if that is still the same origin.
        return new PieceSource.Target(store, uri, OriginClient.forwardableHeaders(spec.uri(), uri, spec.requestHeaders()));
    }

    /** Completes once every piece fetch in flight now has ended, however it ended. */
    synchronized CompletableFuture<Void> settled() {
        return CompletableFuture.allOf(inFlight.values().toArray(CompletableFuture[]::new)).handle((ok, error) -> null);
    }

    /** In use: leased, fetching, streaming, or being made durable (housekeeping must not close it then). */
    synchronized boolean busy() {
        return references.get() > 0 || !inFlight.isEmpty() || stream != null || finishing;
    }

    /** Lets the task go: called once nobody uses it ({@link #busy} false), or at shutdown. */
    void close() {
        endPeer("task closed before it finished");
        OriginResponse unread;
        synchronized (this) {
            unread = pendingStream;
            pendingStream = null;
        }
        closeQuietly(unread);
        StoredTask closing = store;
        if (closing != null) {
            try {
                closing.close();
            } catch (IOException e) {
                log.warn("event=task_close_failed task={} error=\"{}\"", id, e.toString());
            }
        }
    }

    /** An origin response whose body nobody will read: closing only drops the connection. */
    private static void closeQuietly(OriginResponse response) {
        if (response != null) {
            try {
                response.body().close();
            } catch (IOException ignored) {
                // nothing was wanted from it
            }
        }
    }

    private static RuntimeException rethrow(Throwable cause) throws IOException {
        if (cause instanceof IOException io) {
            throw io;
        }
        if (cause instanceof RuntimeException r) {
            return r;
        }
        if (cause instanceof Error e) {
            throw e;
        }
        return new PollenException(ErrorCode.INTERNAL, String.valueOf(cause), cause);
    }

    private static Throwable unwrap(Throwable t) {
        return t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
    }
}
