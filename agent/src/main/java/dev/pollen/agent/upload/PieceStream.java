package dev.pollen.agent.upload;

import dev.pollen.agent.config.Durations;
import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.storage.TaskMetadata;
import dev.pollen.agent.task.ActiveTask;
import dev.pollen.agent.task.TaskManager;
import dev.pollen.policy.SuperSeeding;
import dev.pollen.proto.dfdaemon.v2.SyncPiecesResponse;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import java.time.Duration;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One SyncPieces call: announces a leased task's pieces to a child, those stored now and those that land
 * later, until every wanted piece is announced, the child cancels, or the stream reaches its maximum
 * age. Whichever comes first unsubscribes from the task and returns the lease, exactly once.
 */
final class PieceStream implements SuperSeeding.Follower {
    private static final Logger log = LoggerFactory.getLogger(PieceStream.class);

    /**
     * The most pieces one request may name, and the highest number it may name while the task's length
     * is unknown: a task of 4 MiB pieces this long is 4 TiB. Bounds the memory one request can claim.
     */
    static final int MAX_PIECES = 1 << 20;

    private final TaskManager tasks;
    private final ActiveTask task;
    private final ServerCallStreamObserver<SyncPiecesResponse> call;
    private final String advertisedIp;
    private final int vortexPort;
    private final SuperSeeding superSeeding;
    private final AtomicBoolean done = new AtomicBoolean();
    /**
     * Orders the stored pieces and the listener's, and each against the end of the stream (the call is not
     * thread-safe); {@code onNext} only queues a message on the transport, it never waits for the child.
     */
    private final Object lock = new Object();
    private final BitSet sent = new BitSet();
    private BitSet wanted;
    private Runnable unsubscribe = () -> { };
    private ScheduledFuture<?> expiry;
    private ScheduledExecutorService timer;

    PieceStream(TaskManager tasks, ActiveTask task, ServerCallStreamObserver<SyncPiecesResponse> call, String advertisedIp,
                int vortexPort, SuperSeeding superSeeding) {
        this.tasks = tasks;
        this.task = task;
        this.call = call;
        this.advertisedIp = advertisedIp;
        this.vortexPort = vortexPort;
        this.superSeeding = superSeeding;
    }

    /** Why a request naming these pieces cannot be served, or null; checked before anything is allocated for it. */
    static String invalid(List<Integer> numbers, TaskMetadata meta) {
        int count = meta.pieceCount();
        int limit = count >= 0 ? count : MAX_PIECES;
        if (numbers.size() > limit) {
            return "SyncPieces names " + numbers.size() + " pieces of task " + meta.taskId() + " (expected: at most "
                    + limit + (count >= 0 ? ", its piece count)" : " while its length is unknown)");
        }
        for (int n : numbers) {
            // uint32 on the wire: numbers from 2^31 arrive negative.
            if (n < 0 || n >= limit) {
                return "SyncPieces names piece " + Integer.toUnsignedString(n) + " of task " + meta.taskId()
                        + " (expected: 0.." + (limit - 1) + (count >= 0 ? ", it has " + count + " pieces)" : ")");
            }
        }
        return null;
    }

    /** Runs inside the call; the lease is returned on every way out. */
    void start(List<Integer> numbers, ScheduledExecutorService timer, Duration maxAge) {
        call.setOnCancelHandler(this::release);
        try {
            String invalid = invalid(numbers, task.metadata());
            if (invalid != null) {
                end(Status.INVALID_ARGUMENT.withDescription(invalid));
                return;
            }
            wanted = new BitSet();
            numbers.forEach(wanted::set);
            this.timer = timer;
            superSeeding.join(task.id(), this);
            // Under the lock, so a piece landing now or an early expiry waits until there is something to undo;
            // subscribed before the stored pieces are read, so a piece landing in between is not missed.
            synchronized (lock) {
                expiry = timer.schedule(() -> end(Status.DEADLINE_EXCEEDED.withDescription("SyncPieces of task "
                        + task.id() + " reached its maximum age of " + Durations.format(maxAge)
                        + " (upload.syncPieces.maxAge): follow again")), maxAge.toNanos(), TimeUnit.NANOSECONDS);
                unsubscribe = task.onPiece(piece -> offer(piece, true));
            }
            task.store().pieces().forEach(piece -> offer(piece, false));
            synchronized (lock) {
                if (complete()) {
                    end(Status.OK);
                }
            }
        } catch (RuntimeException e) {
            log.warn("event=sync_pieces_failed task={} error=\"{}\"", task.id(), e.toString());
            end(Status.INTERNAL.withDescription("SyncPieces of task " + task.id() + " failed: " + e));
        }
    }

    @Override
    public boolean wants(int number) {
        synchronized (lock) {
            return !done.get() && (wanted.isEmpty() || wanted.get(number)) && !sent.get(number);
        }
    }

    /**
     * Announces the piece now, or when super-seeding lets this child hear of it. Asked outside this stream's
     * lock: super-seeding looks at the other streams of the task.
     */
    private void offer(PieceRecord piece, boolean justLanded) {
        long delay = superSeeding.delayNanos(task.id(), this, piece.number(), justLanded);
        if (delay <= 0) {
            send(piece);
            return;
        }
        try {
            timer.schedule(() -> offer(piece, false), delay, TimeUnit.NANOSECONDS);
        } catch (RuntimeException e) {
            // The timer is shutting down with the daemon: the stream ends with it.
            send(piece);
        }
    }

    /** Also reached from the task's piece listener: it must not throw into the task's piece path. */
    private void send(PieceRecord piece) {
        try {
            synchronized (lock) {
                if (done.get() || (!wanted.isEmpty() && !wanted.get(piece.number())) || sent.get(piece.number())) {
                    return;
                }
                sent.set(piece.number());
                call.onNext(SyncPiecesResponse.newBuilder().setNumber(piece.number()).setOffset(piece.offset())
                        .setLength(piece.length()).setIp(advertisedIp).setTcpPort(vortexPort).build());
                if (complete()) {
                    end(Status.OK);
                }
            }
        } catch (RuntimeException e) {
            log.warn("event=sync_pieces_failed task={} piece={} error=\"{}\"", task.id(), piece.number(), e.toString());
            end(Status.INTERNAL.withDescription("SyncPieces of task " + task.id() + " failed: " + e));
        }
    }

    private boolean complete() {
        TaskMetadata meta = task.metadata();
        if (wanted.isEmpty()) {
            return meta.lengthKnown() && sent.cardinality() >= meta.pieceCount();
        }
        BitSet missing = (BitSet) wanted.clone();
        missing.andNot(sent);
        int next = missing.nextSetBit(0);
        // Once the length is known, numbers past the end can never come.
        return next < 0 || (meta.lengthKnown() && next >= meta.pieceCount());
    }

    /** Closes the stream with {@code status} unless it already ended. */
    private void end(Status status) {
        synchronized (lock) {
            if (!release()) {
                return;
            }
            if (status.isOk()) {
                call.onCompleted();
            } else {
                call.onError(status.asRuntimeException());
            }
        }
    }

    /** Unsubscribes, stops the age timer and returns the lease; true for the one call that did it. */
    private boolean release() {
        if (!done.compareAndSet(false, true)) {
            return false;
        }
        synchronized (lock) {
            unsubscribe.run();
            if (expiry != null) {
                expiry.cancel(false);
            }
        }
        superSeeding.leave(task.id(), this);
        tasks.release(task);
        return true;
    }
}
