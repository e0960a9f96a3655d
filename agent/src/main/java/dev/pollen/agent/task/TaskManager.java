package dev.pollen.agent.task;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.metrics.AgentMetrics;
import dev.pollen.agent.origin.OriginClient;
import dev.pollen.agent.origin.OriginPieceSource;
import dev.pollen.agent.origin.OriginStreamSource;
import dev.pollen.agent.peer.P2p;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.storage.StoredTask;
import dev.pollen.agent.storage.TaskSnapshot;
import io.grpc.Context;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One {@link ActiveTask} per task id however many requests use it. Requests lease a task and return
 * it; a task nobody uses and that fetches nothing can be closed and evicted.
 *
 * <p>The manager's monitor guards only its two maps: preparing a task, closing it, deleting it and
 * listing the disk all run outside it, so one slow task never holds up requests for another.
 */
public final class TaskManager implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(TaskManager.class);
    private final Storage storage;
    private final OriginClient origin;
    private final OriginPieceSource originPieces;
    private final OriginStreamSource originStream;
    private final ExecutorService executor;
    private final int concurrentPieces;
    private final Clock clock;
    private final P2p p2p;
    private final AgentMetrics metrics;
    private final Map<String, ActiveTask> active = new HashMap<>();
    /** Task ids whose files are being deleted, and when that is done: nobody leases them meanwhile. */
    private final Map<String, CompletableFuture<Void>> deleting = new HashMap<>();

    /** @param p2p how to download from peers, or null to use only the origin */
    public TaskManager(Storage storage, OriginClient origin, ExecutorService executor, int concurrentPieces, Clock clock, P2p p2p,
                       AgentMetrics metrics) {
        this.storage = storage;
        this.origin = origin;
        this.originPieces = new OriginPieceSource(origin);
        this.originStream = new OriginStreamSource(origin);
        this.executor = executor;
        this.concurrentPieces = concurrentPieces;
        this.clock = clock;
        this.p2p = p2p;
        this.metrics = metrics;
    }

    AgentMetrics metrics() {
        return metrics;
    }

    /** Tasks leased by a download or an upload right now (pollen_tasks_active). */
    public synchronized int activeCount() {
        return active.size();
    }

    /**
     * How many pieces one caller keeps asked for at a time: twice the pieces fetched at once, so a fetch
     * slot never waits for the caller, while what a caller holds does not grow with the piece count.
     */
    int pieceWindow() {
        return 2 * concurrentPieces;
    }

    /**
     * Leases the task, loading or creating it; every successful call must be paired with {@link #release}.
     *
     * @param cancelled completes when the caller goes away: it then stops waiting for another caller's work
     */
    public ActiveTask acquire(TaskSpec spec, boolean backToSourceAllowed, CompletableFuture<?> cancelled) throws IOException {
        ActiveTask task = lease(spec, cancelled);
        // The task outlives the request that prepares it: its scheduler and parent calls must not be
        // cancelled with that request's gRPC context.
        Context previous = Context.ROOT.attach();
        try {
            task.prepare(backToSourceAllowed ? ActiveTask.Reach.ORIGIN : ActiveTask.Reach.PEERS, cancelled);
            task.store().touch(clock.instant());
            return task;
        } catch (IOException | RuntimeException e) {
            release(task);
            throw e;
        } finally {
            Context.ROOT.detach(previous);
        }
    }

    /** Takes a reference on the task, made if need be; waits (outside the lock) while its files are deleted. */
    private ActiveTask lease(TaskSpec spec, CompletableFuture<?> cancelled) {
        while (true) {
            CompletableFuture<Void> deletion;
            synchronized (this) {
                deletion = deleting.get(spec.taskId());
                if (deletion == null) {
                    ActiveTask task = active.computeIfAbsent(spec.taskId(), this::newTask);
                    task.references.incrementAndGet();
                    task.useRequest(spec);
                    return task;
                }
            }
            try {
                CompletableFuture.anyOf(deletion, cancelled).get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new PollenException(ErrorCode.INTERNAL, "interrupted while task " + spec.taskId() + " was deleted", e);
            } catch (ExecutionException e) {
                // a deletion only ever completes normally
            }
            if (cancelled.isDone()) {
                throw new CancellationException("the caller went away");
            }
        }
    }

    /**
     * Leases a task that is active or stored, by id alone, for serving it to peers; null when this
     * node has no such task (or is still learning what it is). Never goes to the network.
     */
    public ActiveTask acquireExisting(String taskId) throws IOException {
        ActiveTask task;
        synchronized (this) {
            task = active.get(taskId);
            if (task != null) {
                task.references.incrementAndGet();
            }
        }
        if (task == null) {
            if (!storage.exists(taskId)) {
                return null;
            }
            synchronized (this) {
                if (deleting.containsKey(taskId)) {
                    return null;
                }
                task = active.computeIfAbsent(taskId, this::newTask);
                task.references.incrementAndGet();
            }
        }
        try {
            if (task.prepare(ActiveTask.Reach.STORED, new CompletableFuture<>())) {
                return task;
            }
            release(task);
            return null;
        } catch (IOException | RuntimeException e) {
            release(task);
            throw e;
        }
    }

    /**
     * A task as a lease makes it, before any request is known (a download's replaces it at once): uploads
     * never reach the origin, so the url is a placeholder.
     */
    private ActiveTask newTask(String taskId) {
        TaskSpec placeholder = new TaskSpec("http://stored.invalid/" + taskId, null, null, null, Set.of(), Map.of());
        return new ActiveTask(taskId, placeholder, storage, origin, originPieces, originStream, executor, concurrentPieces, clock,
                p2p, metrics, this::reject);
    }

    /**
     * Returns a lease. The task stays open for the next request (uploads lease it once per piece);
     * housekeeping closes tasks that stay idle.
     */
    public void release(ActiveTask task) {
        if (task.references.decrementAndGet() == 0 && task.rejected()) {
            deleteRejected(task);
        }
    }

    /** Rejected tasks whose deletion has begun: each is deleted once, by whoever sees it unused first. */
    private final Set<ActiveTask> deletingRejected = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /**
     * A task whose content failed its blob digest: nobody leases it from now on (a new request waits, then starts
     * over from nothing); once its last lease is returned and its fetches have settled, its files are deleted.
     */
    private void reject(ActiveTask task) {
        synchronized (this) {
            if (active.get(task.id()) != task || deleting.containsKey(task.id())) {
                return;
            }
            active.remove(task.id());
            deleting.put(task.id(), new CompletableFuture<>());
        }
        if (task.references.get() == 0) {
            deleteRejected(task);
        }
    }

    private void deleteRejected(ActiveTask task) {
        if (!deletingRejected.add(task)) {
            return;
        }
        // Async: the last lease may be returned on an event loop or a piece thread, neither of which may delete files.
        task.settled().thenRunAsync(() -> {
            boolean deleted = false;
            try {
                task.close();
                storage.delete(task.id());
                deleted = true;
            } catch (IOException | RuntimeException e) {
                log.warn("event=task_discard_failed task={} error=\"{}\"", task.id(), e.toString());
            } finally {
                CompletableFuture<Void> deletion;
                synchronized (this) {
                    deletion = deleting.remove(task.id());
                }
                deletingRejected.remove(task);
                if (deletion != null) {
                    deletion.complete(null);
                }
            }
            log.info("event=task_discarded task={} reason=digest_mismatch deleted={}", task.id(), deleted);
        }, command -> {
            try {
                executor.execute(command);
            } catch (RejectedExecutionException stopping) {
                // The daemon is stopping: the task was never marked finished, so the next start checks it again.
            }
        });
    }

    /**
     * The task as it stands, for a stat: from the open task while one is active (its current pieces), else
     * read from its files without opening them. Null when this node has no such task, or is still learning
     * what it is. Never creates, rewrites or deletes anything.
     */
    public TaskSnapshot snapshot(String taskId) throws IOException {
        ActiveTask task;
        synchronized (this) {
            task = active.get(taskId);
        }
        StoredTask open = task == null ? null : task.store();
        if (open != null) {
            try {
                return open.snapshot();
            } catch (NoSuchFileException e) {
                return null;
            }
        }
        return storage.snapshot(taskId);
    }

    /**
     * Runs {@code action} on a task id only while no request uses it, so it cannot be deleted under a reader;
     * false when the task is busy. Requests for the task wait until the action is done.
     */
    public boolean whenIdle(String taskId, Predicate<String> action) {
        ActiveTask task;
        synchronized (this) {
            if (deleting.containsKey(taskId)) {
                return false;
            }
            task = active.get(taskId);
        }
        if (task != null && task.busy()) {
            return false;
        }
        CompletableFuture<Void> deletion = new CompletableFuture<>();
        synchronized (this) {
            if (deleting.containsKey(taskId) || !stillIdle(taskId, task)) {
                return false;
            }
            if (task != null) {
                active.remove(taskId);
            }
            deleting.put(taskId, deletion);
        }
        try {
            if (task != null) {
                task.close();
            }
            return action.test(taskId);
        } finally {
            synchronized (this) {
                deleting.remove(taskId);
            }
            deletion.complete(null);
        }
    }

    /**
     * After a download failed for want of space: once the task's fetches in flight have ended, deletes
     * the partial task unless someone uses it, so the disk recovers. A finished task is kept (the space
     * ran out writing an output, and the task is good cache).
     */
    public void discardWhenSettled(ActiveTask task) {
        if (task.store() == null || task.metadata().finished()) {
            return;
        }
        // Async: settled() completes on a piece thread, which must not run a delete of the whole task.
        task.settled().thenRunAsync(() -> {
            boolean deleted = !task.metadata().finished() && whenIdle(task.id(), id -> {
                try {
                    storage.delete(id);
                    return true;
                } catch (IOException e) {
                    log.warn("event=task_discard_failed task={} error=\"{}\"", id, e.toString());
                    return false;
                }
            });
            log.info("event=task_discarded task={} reason=no_space deleted={}", task.id(), deleted);
        }, command -> {
            try {
                executor.execute(command);
            } catch (RejectedExecutionException stopping) {
                // The daemon is stopping: the partial task stays, and GC's free-space floor takes it later.
            }
        });
    }

    public boolean isActive(String taskId) {
        ActiveTask task;
        synchronized (this) {
            task = active.get(taskId);
        }
        return task != null && task.busy();
    }

    /** Closes tasks whose last request left while pieces were still in flight. */
    public void closeIdle() {
        List<ActiveTask> candidates;
        synchronized (this) {
            candidates = List.copyOf(active.values());
        }
        List<ActiveTask> idle = new ArrayList<>();
        for (ActiveTask task : candidates) {
            if (task.busy()) {
                continue;
            }
            synchronized (this) {
                if (stillIdle(task.id(), task)) {
                    active.remove(task.id());
                    idle.add(task);
                }
            }
        }
        idle.forEach(ActiveTask::close);
    }

    /**
     * Whether a task seen idle (its {@link ActiveTask#busy} asked outside this manager's lock, so one task's
     * bookkeeping never holds up requests for others) still is: it is still the one in the map and nobody leased
     * it since. No work starts on a task without a lease, and leases are taken under this lock.
     */
    private boolean stillIdle(String taskId, ActiveTask seen) {
        ActiveTask now = active.get(taskId);
        return now == seen && (seen == null || seen.references.get() == 0);
    }

    @Override
    public void close() {
        List<ActiveTask> all;
        synchronized (this) {
            all = List.copyOf(active.values());
            active.clear();
        }
        all.forEach(ActiveTask::close);
    }
}
