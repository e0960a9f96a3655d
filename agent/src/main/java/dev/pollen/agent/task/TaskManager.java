package dev.pollen.agent.task;

import dev.pollen.agent.piece.OriginClient;
import dev.pollen.agent.piece.OriginPieceSource;
import dev.pollen.agent.piece.OriginStreamSource;
import dev.pollen.agent.storage.Storage;
import java.io.IOException;
import java.time.Clock;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.function.Predicate;

/**
 * One {@link ActiveTask} per task id however many requests use it. Requests lease a task and return
 * it; a task nobody uses and that fetches nothing can be closed and evicted.
 */
public final class TaskManager implements AutoCloseable {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(TaskManager.class);
    private final Storage storage;
    private final OriginClient origin;
    private final OriginPieceSource originPieces;
    private final OriginStreamSource originStream;
    private final ExecutorService executor;
    private final int concurrentPieces;
    private final Clock clock;
    private final P2p p2p;
    private final Map<String, ActiveTask> active = new HashMap<>();

    /** @param p2p how to download from peers, or null to use only the origin */
    public TaskManager(Storage storage, OriginClient origin, ExecutorService executor, int concurrentPieces, Clock clock, P2p p2p) {
        this.storage = storage;
        this.origin = origin;
        this.originPieces = new OriginPieceSource(origin);
        this.originStream = new OriginStreamSource(origin);
        this.executor = executor;
        this.concurrentPieces = concurrentPieces;
        this.clock = clock;
        this.p2p = p2p;
    }

    /** Leases the task, loading or creating it; every successful call must be paired with {@link #release}. */
    public ActiveTask acquire(TaskSpec spec, boolean backToSourceAllowed) throws IOException {
        ActiveTask task;
        synchronized (this) {
            task = active.computeIfAbsent(spec.taskId(),
                    id -> new ActiveTask(id, spec, storage, origin, originPieces, originStream, executor, concurrentPieces, clock, p2p));
            task.references.incrementAndGet();
            task.useRequest(spec);
        }
        // The task outlives the request that prepares it: its scheduler and parent calls must not be
        // cancelled with that request's gRPC context.
        io.grpc.Context previous = io.grpc.Context.ROOT.attach();
        try {
            task.prepare(backToSourceAllowed);
            task.store().touch(clock.instant());
            return task;
        } catch (IOException | RuntimeException e) {
            release(task);
            throw e;
        } finally {
            io.grpc.Context.ROOT.detach(previous);
        }
    }

    /**
     * Leases a task that is active or stored, by id alone, for serving it to peers; null when this
     * node has no such task. Never goes to the origin.
     */
    public ActiveTask acquireExisting(String taskId) throws IOException {
        ActiveTask task;
        synchronized (this) {
            task = active.get(taskId);
            if (task != null && task.asking()) {
                // Still asking the scheduler, parents or the origin what the task is: nothing to serve
                // yet, and waiting here could deadlock two peers that each ask the other.
                return null;
            }
            if (task == null) {
                if (!storage.exists(taskId)) {
                    return null;
                }
                // Only uploads use this lease and they never reach the origin, so the url is a placeholder.
                TaskSpec spec = new TaskSpec("http://stored.invalid/" + taskId, null, null, null, java.util.Set.of(),
                        java.util.Map.of());
                task = new ActiveTask(taskId, spec, storage, origin, originPieces, originStream, executor, concurrentPieces, clock, p2p);
                active.put(taskId, task);
            }
            task.references.incrementAndGet();
        }
        try {
            task.prepare(false);
            return task;
        } catch (IOException | RuntimeException e) {
            release(task);
            throw e;
        }
    }

    /**
     * Returns a lease. The task stays open for the next request (uploads lease it once per piece);
     * housekeeping closes tasks that stay idle.
     */
    public void release(ActiveTask task) {
        task.references.decrementAndGet();
    }

    /** Runs {@code action} on a task id only while no request uses it, so it cannot be deleted under a reader. */
    public synchronized boolean whenIdle(String taskId, Predicate<String> action) {
        ActiveTask task = active.get(taskId);
        if (task != null) {
            if (task.busy()) {
                return false;
            }
            active.remove(taskId);
            task.close();
        }
        return action.test(taskId);
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
        // Async: the pieces complete under the task's lock, and whenIdle takes this manager's first.
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
            } catch (java.util.concurrent.RejectedExecutionException stopping) {
                // The daemon is stopping: the partial task stays, and GC's free-space floor takes it later.
            }
        });
    }

    public synchronized boolean isActive(String taskId) {
        ActiveTask task = active.get(taskId);
        return task != null && task.busy();
    }

    /** Closes tasks whose last request left while pieces were still in flight. */
    public synchronized void closeIdle() {
        for (ActiveTask task : List.copyOf(active.values())) {
            closeIfIdle(task);
        }
    }

    private void closeIfIdle(ActiveTask task) {
        if (!task.busy()) {
            active.remove(task.id(), task);
            task.close();
        }
    }

    @Override
    public synchronized void close() {
        active.values().forEach(ActiveTask::close);
        active.clear();
    }
}
