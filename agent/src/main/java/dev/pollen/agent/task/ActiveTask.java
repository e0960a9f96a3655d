package dev.pollen.agent.task;

import dev.pollen.agent.ErrorCode;
import dev.pollen.agent.PollenException;
import dev.pollen.agent.piece.OriginClient;
import dev.pollen.agent.piece.OriginResponse;
import dev.pollen.agent.piece.OriginStreamSource;
import dev.pollen.agent.piece.PieceSource;
import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.storage.StoredTask;
import dev.pollen.agent.storage.TaskMetadata;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.time.Clock;
import java.util.HashMap;
import java.util.Map;
import java.util.List;
import java.util.OptionalLong;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Semaphore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A task that at least one request is using: the one place where its pieces are claimed, so however
 * many callers ask, each missing piece is fetched once. A caller asks for a piece and gets a future;
 * the first ask starts the fetch, later asks share it.
 */
public final class ActiveTask {
    private static final Logger log = LoggerFactory.getLogger(ActiveTask.class);

    private TaskSpec spec;
    private final String id;
    private final Storage storage;
    private final OriginClient origin;
    private final PieceSource originPieces;
    private final OriginStreamSource originStream;
    private final ExecutorService executor;
    private final Semaphore slots;
    private final Clock clock;
    private final P2p p2p;

    private final Map<Integer, CompletableFuture<ReadyPiece>> inFlight = new HashMap<>();
    private final List<Consumer<PieceRecord>> pieceListeners = new CopyOnWriteArrayList<>();
    private volatile StoredTask store;
    private volatile boolean asking;
    private URI resolved;
    private OriginResponse pendingStream;
    private CompletableFuture<Long> stream;
    private PeerDownload peer;
    /** While the last piece's caller makes the content durable: no second caller finishes, nobody closes. */
    private boolean finishing;
    final java.util.concurrent.atomic.AtomicInteger references = new java.util.concurrent.atomic.AtomicInteger();

    ActiveTask(String id, TaskSpec spec, Storage storage, OriginClient origin, PieceSource originPieces, OriginStreamSource originStream,
               ExecutorService executor, int concurrentPieces, Clock clock, P2p p2p) {
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
    }

    public String id() {
        return id;
    }

    /**
     * The latest downloader's request: its url and headers (credentials may have been refreshed) reach
     * the origin from now on. A task leased only for uploads has no real request until then.
     */
    synchronized void useRequest(TaskSpec request) {
        spec = request;
    }

    public StoredTask store() {
        return store;
    }

    /** Whether a download is still asking the network what the task is (never blocks). */
    boolean asking() {
        return asking;
    }

    public TaskMetadata metadata() {
        return store.metadata();
    }

    /**
     * Loads the task from disk, or asks the origin what it is and creates it. Cheap after the first
     * call; a stored task needs no origin request at all.
     */
    synchronized void prepare(boolean backToSourceAllowed) throws IOException {
        if (store != null) {
            return;
        }
        store = storage.open(id);
        if (store != null) {
            log.info("event=task_loaded task={} finished={} stored_pieces={}", id, store.metadata().finished(),
                    store.pieces().size());
            return;
        }
        asking = true;
        try {
            if (p2p != null && prepareFromParents()) {
                return;
            }
            prepareFromOrigin(backToSourceAllowed);
        } finally {
            asking = false;
        }
    }

    private void prepareFromOrigin(boolean backToSourceAllowed) throws IOException {
        if (!backToSourceAllowed) {
            endPeer("back-to-source disabled");
            throw new PollenException(ErrorCode.BACK_TO_SOURCE_DISABLED, "no peer has task " + id + " of " + spec.url()
                    + " and back-to-source is disabled (fix: drop --disable-back-to-source)");
        }
        if (peer != null) {
            peer.startFromOrigin();
        }
        OriginResponse probe = origin.probe(spec.uri(), spec.requestHeaders());
        boolean ranged = probe.partial() && probe.totalLength() >= 0;
        long length = probe.totalLength();
        if (ranged) {
            try (InputStream ignored = probe.body()) {
                ignored.transferTo(java.io.OutputStream.nullOutputStream());
            }
        } else if (probe.partial()) {
            probe.body().close();
        } else {
            pendingStream = probe;
        }
        Map<String, java.util.List<String>> headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        headers.putAll(probe.headers());
        headers.remove("Content-Range");
        headers.remove("Content-Length");
        long pieceLength = spec.pieceLength() != null ? spec.pieceLength() : PieceLengths.forContentLength(length);
        resolved = probe.uri();
        store = storage.create(TaskMetadata.started(id, spec.url(), length, pieceLength, ranged, headers, clock.instant()));
        log.info("event=task_created task={} url={} content_length={} piece_length={} ranges={}", id, spec.url(), length,
                pieceLength, ranged);
        if (length == 0) {
            store.finish();
        }
    }

    /**
     * Registers with the scheduler; when it names parents that know the task's length, creates the task
     * from that and downloads from them. False: the origin is needed (or no scheduler answered).
     */
    private boolean prepareFromParents() throws IOException {
        peer = PeerDownload.register(p2p, id, spec);
        if (peer == null || !(peer.decision() instanceof dev.pollen.scheduler.client.Decision.Parents)) {
            return false;
        }
        dev.pollen.proto.common.v2.Task known;
        try {
            known = peer.statFromParents();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
        if (known == null) {
            return false;
        }
        long length = known.getContentLength();
        long pieceLength = spec.pieceLength() != null ? spec.pieceLength() : PieceLengths.forContentLength(length);
        // Ranges are assumed for the origin fallback; an origin that ignores them switches the task to a stream.
        store = storage.create(TaskMetadata.started(id, spec.url(), length, pieceLength, true, Map.of(), clock.instant()));
        peer.startFromParents(store, store.metadata().pieceCount());
        log.info("event=task_created task={} url={} content_length={} piece_length={} source=parents", id, spec.url(), length,
                pieceLength);
        if (length == 0) {
            store.finish();
            endPeer(null);
        }
        return true;
    }

    /** Reports the end of this node's download of the task to the scheduler and leaves its stream. */
    private synchronized void endPeer(String failure) {
        if (peer != null) {
            if (failure == null) {
                peer.finished();
            } else {
                peer.failed(failure);
            }
            peer.close();
            peer = null;
        }
    }

    /** A future that completes when piece {@code number} is on disk; the first caller's ask starts the fetch. */
    public synchronized CompletableFuture<ReadyPiece> piece(int number, boolean backToSourceAllowed) {
        PieceRecord stored = store.piece(number);
        if (stored != null) {
            // On disk before this caller asked: for it, the piece came from the local cache.
            return CompletableFuture.completedFuture(new ReadyPiece(stored, PieceOrigin.LOCAL_PEER));
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
            executor.execute(() -> fetchPiece(number, backToSourceAllowed));
            return future;
        }
        if (!backToSourceAllowed) {
            return CompletableFuture.failedFuture(new PollenException(ErrorCode.BACK_TO_SOURCE_DISABLED, "piece " + number
                    + " of task " + id + " is on no peer and back-to-source is disabled (fix: drop --disable-back-to-source)"));
        }
        CompletableFuture<ReadyPiece> future = new CompletableFuture<>();
        inFlight.put(number, future);
        if (meta.rangeSupported()) {
            executor.execute(() -> fetchPiece(number, true));
        } else {
            startStream();
        }
        return future;
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
                dev.pollen.agent.piece.ParentSet.Fetched fetched = parents.fetch(store, number);
                if (fetched != null) {
                    pieceReady(fetched.piece(), PieceOrigin.REMOTE_PEER);
                    return;
                }
                if (!backToSourceAllowed) {
                    failPiece(number, new PollenException(ErrorCode.BACK_TO_SOURCE_DISABLED, "no parent could deliver piece "
                            + number + " of task " + id + " and back-to-source is disabled (fix: drop --disable-back-to-source)"));
                    return;
                }
                log.info("event=piece_from_origin task={} piece={} reason=no_parent_delivered", id, number);
            }
            PieceRecord record = originPieces.fetch(target(), number);
            pieceReady(record, PieceOrigin.BACK_TO_SOURCE);
        } catch (PieceSource.RangeIgnoredException e) {
            log.info("event=origin_ignores_ranges task={} url={} action=stream", id, spec.url());
            switchToStream();
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

    private synchronized void switchToStream() {
        if (store.metadata().rangeSupported()) {
            try {
                store.updateMetadata(store.metadata().withoutRanges());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        startStream();
    }

    private synchronized void startStream() {
        if (stream != null) {
            return;
        }
        OriginResponse first = pendingStream;
        pendingStream = null;
        stream = CompletableFuture.supplyAsync(
                () -> originStream.streamAll(target(), first, r -> pieceReady(r, PieceOrigin.BACK_TO_SOURCE)), executor);
        stream.whenComplete((length, error) -> streamEnded(error));
    }

    private void streamEnded(Throwable error) {
        synchronized (this) {
            stream = null;
            int count = store.metadata().pieceCount();
            for (Map.Entry<Integer, CompletableFuture<ReadyPiece>> e : Map.copyOf(inFlight).entrySet()) {
                if (error != null) {
                    e.getValue().completeExceptionally(unwrap(error));
                    inFlight.remove(e.getKey());
                } else if (e.getKey() >= count) {
                    e.getValue().completeExceptionally(new NoSuchPieceException(e.getKey(), count));
                    inFlight.remove(e.getKey());
                }
            }
        }
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

    private void pieceReady(PieceRecord record, PieceOrigin source) {
        CompletableFuture<ReadyPiece> waiting;
        PeerDownload reporting;
        synchronized (this) {
            waiting = inFlight.remove(record.number());
            reporting = source == PieceOrigin.BACK_TO_SOURCE ? peer : null;
        }
        // Outside the lock: listeners take their own locks (an upload stream's), and waiters resume.
        if (reporting != null) {
            reporting.pieceFromOrigin(record);
        }
        pieceListeners.forEach(l -> l.accept(record));
        // Claimed before the waiter resumes: it may hard-link the content to an output the user then writes to.
        OptionalLong completedAt = claimFinish();
        if (waiting != null) {
            waiting.complete(new ReadyPiece(record, source));
        }
        completedAt.ifPresent(this::finish);
    }

    private synchronized void failPiece(int number, Throwable error) {
        CompletableFuture<ReadyPiece> waiting = inFlight.remove(number);
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
            store.finish(contentModifiedMillis);
            log.info("event=task_finished task={} content_length={}", id, store.metadata().contentLength());
            endPeer(null);
        } catch (java.nio.channels.ClosedChannelException e) {
            // The daemon is stopping: the task stays unfinished and is re-checked on the next start.
            log.warn("event=task_finish_interrupted task={} reason=shutdown", id);
        } catch (IOException e) {
            log.error("event=task_finish_failed task={} error=\"{}\"", id, e.toString());
        } finally {
            synchronized (this) {
                finishing = false;
            }
        }
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

    synchronized void close() {
        endPeer("task closed before it finished");
        if (pendingStream != null) {
            try {
                pendingStream.body().close();
            } catch (IOException ignored) {
                // the probe's unread body: closing only drops the connection
            }
            pendingStream = null;
        }
        if (store != null) {
            try {
                store.close();
            } catch (IOException e) {
                log.warn("event=task_close_failed task={} error=\"{}\"", id, e.toString());
            }
        }
    }

    private static Throwable unwrap(Throwable t) {
        return t instanceof java.util.concurrent.CompletionException && t.getCause() != null ? t.getCause() : t;
    }
}
