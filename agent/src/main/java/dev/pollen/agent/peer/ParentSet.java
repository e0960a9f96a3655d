package dev.pollen.agent.peer;

import dev.pollen.agent.storage.LocalStorageError;
import dev.pollen.agent.storage.LocalWriteException;
import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.storage.StoredTask;
import dev.pollen.agent.vortex.VortexException;
import dev.pollen.proto.common.v2.Peer;
import dev.pollen.proto.dfdaemon.v2.DfdaemonUploadGrpc;
import dev.pollen.proto.dfdaemon.v2.SyncPiecesRequest;
import dev.pollen.proto.dfdaemon.v2.SyncPiecesResponse;
import io.grpc.Context;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The parents one task downloads from. A SyncPieces stream per parent says which pieces it holds as
 * they land there; a piece is then fetched over Vortex from the least busy parent that has it. A
 * parent that fails a fetch (bad bytes, an error frame, a lost connection) is reported and not used
 * again for this task. A failure to write the piece to our own disk is no parent's fault: it ends the
 * fetch with the local error ({@link LocalStorageError}) and blames nobody.
 */
public final class ParentSet implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ParentSet.class);

    /** Reports what happened with a parent, so the scheduler hears about it. */
    public interface Reporter {
        void pieceFromParent(Fetched fetched);

        void parentFailed(int number, String parentId, String why);

        /** The parent is far slower than the others: it is no longer asked, and replacements may be found. */
        void parentSlow(int number, String parentId);
    }

    /** A piece fetched from a parent: which one, when the fetch began and how long it took. */
    public record Fetched(PieceRecord piece, String parentId, Instant createdAt, Duration cost) {
    }

    private final String hostId;
    private final String taskId;
    private final ParentChannels channels;
    private final VortexClient vortex;
    private final Duration pieceTimeout;
    private final Reporter reporter;
    private final Map<String, ParentState> parents = new LinkedHashMap<>();
    private final Set<String> failed = new HashSet<>();
    private final Set<String> slow = new HashSet<>();
    /** How long recent pieces took, whoever sent them: what "slow" is measured against. */
    private final ArrayDeque<Long> recentNanos = new ArrayDeque<>();
    private final List<Context.CancellableContext> streams = new ArrayList<>();
    private long lastAnnouncementNanos = System.nanoTime();
    private boolean closed;

    /**
     * When no parent has announced any piece for this long, the parents are taken to be stuck (their
     * own parent died, say, and they wait like us): a piece none of them holds goes elsewhere.
     */
    private static final long STALL_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(3);
    /**
     * A piece that takes this many times the recent median is given up on and its parent counted slow
     * (never under {@link #SLOW_FLOOR_NANOS}, so short pieces on a busy link are not punished).
     */
    private static final int SLOW_FACTOR = 4;
    private static final long SLOW_FLOOR_NANOS = TimeUnit.SECONDS.toNanos(2);
    private static final int RECENT_PIECES = 16;
    /** How often a parent that ends a stream at its maximum age is followed again, and after how long. */
    private static final int RESTREAMS = 10;
    private static final long RESTREAM_MILLIS = 200;

    private static final class ParentState {
        final Peer peer;
        final Map<Integer, InetSocketAddress> pieces = new HashMap<>();
        int busy;
        boolean gone;

        ParentState(Peer peer) {
            this.peer = peer;
        }
    }

    public ParentSet(String hostId, String taskId, ParentChannels channels, VortexClient vortex, Duration pieceTimeout,
                     Reporter reporter) {
        this.hostId = hostId;
        this.taskId = taskId;
        this.channels = channels;
        this.vortex = vortex;
        this.pieceTimeout = pieceTimeout;
        this.reporter = reporter;
    }

    /** Starts following each new parent's pieces. */
    public synchronized void add(List<Peer> peers, List<Integer> wanted) {
        for (Peer peer : peers) {
            if (closed || parents.containsKey(peer.getId()) || failed.contains(peer.getId())) {
                continue;
            }
            ParentState state = new ParentState(peer);
            parents.put(peer.getId(), state);
            follow(state, SyncPiecesRequest.newBuilder().setHostId(hostId).setTaskId(taskId)
                    .addAllInterestedPieceNumbers(wanted).build(), 1);
        }
    }

    /** Streams one parent's pieces; a parent whose stream fails is gone for this task. */
    private synchronized void follow(ParentState state, SyncPiecesRequest request, int attempt) {
        if (closed) {
            return;
        }
        Peer peer = state.peer;
        // Detached from the request that started the download: the stream lives as long as this set.
        Context.CancellableContext ctx = Context.ROOT.withCancellation();
        streams.add(ctx);
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

    private synchronized void forget(Context.CancellableContext ended) {
        streams.remove(ended);
    }

    /** The parents that may still serve: for rescheduling, the others are excluded. */
    public synchronized List<Peer> unusable() {
        List<Peer> out = new ArrayList<>();
        for (ParentState s : parents.values()) {
            if (s.gone || failed.contains(s.peer.getId()) || slow.contains(s.peer.getId())) {
                out.add(s.peer);
            }
        }
        return out;
    }

    /** Whether some parent can still deliver pieces. */
    public synchronized boolean hasUsableParents() {
        return parents.values().stream().anyMatch(this::usable);
    }

    /**
     * Fetches a piece from a parent that has it, waiting up to {@code wait} for one to announce it
     * (less when the parents stop announcing anything); null when none could deliver it (then the
     * caller decides: reschedule or the origin).
     *
     * @throws dev.pollen.agent.error.PollenException when the piece cannot be written locally (NO_SPACE when the disk is full)
     */
    public Fetched fetch(StoredTask target, int number, Duration wait) throws InterruptedException {
        long deadline = System.nanoTime() + wait.toNanos();
        while (true) {
            ParentState chosen;
            InetSocketAddress address;
            synchronized (this) {
                chosen = pick(number);
                while (chosen == null && !closed && hasUsableParents()) {
                    long now = System.nanoTime();
                    long left = Math.min(deadline - now, lastAnnouncementNanos + STALL_NANOS - now);
                    if (left <= 0) {
                        return null;
                    }
                    TimeUnit.NANOSECONDS.timedWait(this, left);
                    chosen = pick(number);
                }
                if (chosen == null) {
                    return null;
                }
                chosen.busy++;
                address = chosen.pieces.get(number);
            }
            String parentId = chosen.peer.getId();
            Instant createdAt = Instant.now();
            long started = System.nanoTime();
            ParentState from = chosen;
            try {
                PieceRecord piece = vortex.fetch(address, target, number, () -> started + slowLimitNanos(from, number));
                long took = System.nanoTime() - started;
                tookNanos(took);
                Fetched fetched = new Fetched(piece, parentId, createdAt, Duration.ofNanos(took));
                reporter.pieceFromParent(fetched);
                return fetched;
            } catch (IOException | RuntimeException e) {
                if (e instanceof VortexException v && v.reason() == VortexException.Reason.LOCAL_WRITE_FAILED) {
                    // Our disk failed, not the parent: it is neither dropped nor reported, and since the origin's
                    // bytes would land on the same disk, the piece fails here and now.
                    long wanted = v.getCause() instanceof LocalWriteException l ? l.bytesWanted() : 0;
                    throw LocalStorageError.of("piece " + number + " of task " + taskId + " from parent " + parentId,
                            target.contentPath(), wanted, v);
                }
                // A timeout before the full piece timeout can only be the slow-parent deadline's doing.
                long elapsed = System.nanoTime() - started;
                if (e instanceof VortexException v && v.reason() == VortexException.Reason.TIMEOUT
                        && elapsed < pieceTimeout.toNanos()) {
                    log.info("event=parent_slow task={} piece={} parent={} gave_up_after_ms={} recent_median_ms={}", taskId,
                            number, parentId, TimeUnit.NANOSECONDS.toMillis(elapsed),
                            TimeUnit.NANOSECONDS.toMillis(medianNanos()));
                    synchronized (this) {
                        slow.add(parentId);
                    }
                    reporter.parentSlow(number, parentId);
                } else {
                    log.warn("event=parent_failed task={} piece={} parent={} address={} error=\"{}\"", taskId, number, parentId,
                            address, e.toString());
                    synchronized (this) {
                        failed.add(parentId);
                    }
                    reporter.parentFailed(number, parentId, e.toString());
                }
            } finally {
                synchronized (this) {
                    chosen.busy--;
                }
            }
        }
    }

    private boolean usable(ParentState s) {
        return !s.gone && !failed.contains(s.peer.getId()) && !slow.contains(s.peer.getId());
    }

    /**
     * How long piece {@code number} from {@code parent} may take: {@link #SLOW_FACTOR} times the recent
     * median once there is one, but the full piece timeout while no other usable parent holds that piece
     * (slow beats none; a seed that alone has the newest pieces is never dropped for being busy).
     */
    private synchronized long slowLimitNanos(ParentState parent, int number) {
        long median = medianNanos();
        boolean alternatives = parents.values().stream()
                .anyMatch(s -> s != parent && usable(s) && s.pieces.containsKey(number));
        if (median == 0 || !alternatives) {
            return pieceTimeout.toNanos();
        }
        return Math.min(pieceTimeout.toNanos(), Math.max(SLOW_FLOOR_NANOS, SLOW_FACTOR * median));
    }

    private synchronized void tookNanos(long nanos) {
        recentNanos.addLast(nanos);
        if (recentNanos.size() > RECENT_PIECES) {
            recentNanos.removeFirst();
        }
    }

    /** The median time of recent pieces; 0 until a few have arrived. */
    private synchronized long medianNanos() {
        if (recentNanos.size() < 3) {
            return 0;
        }
        long[] sorted = recentNanos.stream().mapToLong(Long::longValue).sorted().toArray();
        return sorted[sorted.length / 2];
    }

    private ParentState pick(int number) {
        ParentState best = null;
        for (ParentState s : parents.values()) {
            if (usable(s) && s.pieces.containsKey(number) && (best == null || s.busy < best.busy)) {
                best = s;
            }
        }
        return best;
    }

    private synchronized void available(ParentState state, int number, InetSocketAddress address) {
        state.pieces.put(number, address);
        lastAnnouncementNanos = System.nanoTime();
        notifyAll();
    }

    private synchronized void gone(ParentState state, String why) {
        if (!closed && !state.gone) {
            log.info("event=parent_gone task={} parent={} cause=\"{}\"", taskId, state.peer.getId(), why);
        }
        state.gone = true;
        notifyAll();
    }

    @Override
    public synchronized void close() {
        closed = true;
        streams.forEach(ctx -> ctx.cancel(null));
        notifyAll();
    }
}
