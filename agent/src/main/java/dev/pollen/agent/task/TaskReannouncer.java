package dev.pollen.agent.task;

import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.storage.TaskSnapshot;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.scheduler.client.SchedulerClient;
import dev.pollen.scheduler.client.SchedulerUnavailableException;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells a scheduler again which tasks this node holds in full once it has forgotten them — it keeps everything in
 * memory, so a restart loses every peer (Dragonfly's scheduler does too: dragonfly#4853, #4880) — so that children
 * are sent here again rather than to the origin. Each finished task on disk that the scheduler owns on the ring is
 * registered as Dragonfly's dfdaemon registers a task it already holds ({@code metadata_only}, its length in the
 * {@code actual_*} fields, then Started and Finished), under a new peer id.
 *
 * <p>Bounded and paced: the {@code limit} most recently used tasks, one at a time, each waiting for its answer and
 * at least {@link #SPACING} after the previous (at most 200 a second), starting at a random moment within
 * {@code spread} so that a whole cluster that notices the same restart does not register all at once.
 */
public final class TaskReannouncer implements SchedulerClient.Forgetting {
    private static final Logger log = LoggerFactory.getLogger(TaskReannouncer.class);
    static final Duration SPACING = Duration.ofMillis(5);

    private final Storage storage;
    private final SchedulerClient scheduler;
    private final String hostId;
    private final int limit;
    private final Duration spread;
    private final Duration timeout;
    /** Schedulers being told now; a second notice while one is told runs once more after it (guarded by this). */
    private final Set<String> running = new HashSet<>();
    private final Set<String> again = new HashSet<>();

    /**
     * @param limit tasks announced at most per notice (the most recently used); 0 announces none
     * @param spread the first announcement waits a random time below this
     */
    public TaskReannouncer(Storage storage, SchedulerClient scheduler, String hostId, int limit, Duration spread, Duration timeout) {
        this.storage = storage;
        this.scheduler = scheduler;
        this.hostId = hostId;
        this.limit = limit;
        this.spread = spread;
        this.timeout = timeout;
    }

    @Override
    public void forgot(String address, String why) {
        if (limit == 0) {
            return;
        }
        synchronized (this) {
            if (!running.add(address)) {
                again.add(address);
                return;
            }
        }
        // The tasks finished when the loss was noticed, listed now rather than on the announcing thread (which may
        // start later): one that finishes during the spread below tells the scheduler itself, and announcing it
        // again would make a second peer of this host for the task.
        Set<String> finishedWhenNoticed = finishedTasks(address);
        Thread.ofVirtual().name("reannounce-" + address).start(() -> {
            Set<String> finishedThen = finishedWhenNoticed;
            while (true) {
                LockSupport.parkNanos(ThreadLocalRandom.current().nextLong(Math.max(1, spread.toNanos())));
                announce(address, why, finishedThen::contains);
                if (!runAgain(address)) {
                    return;
                }
                finishedThen = finishedTasks(address);
            }
        });
    }

    private Set<String> finishedTasks(String address) {
        try {
            return held(address, id -> true).stream().map(t -> t.metadata().taskId()).collect(Collectors.toSet());
        } catch (IOException e) {
            log.warn("event=reannounce_failed scheduler={} error=\"{}\"", address, e.toString());
            return Set.of();
        }
    }

    /** Tasks that finished while the scheduler was away (it restarted mid-download): announced now, few as they are. */
    @Override
    public void forgotTasks(String address, Set<String> taskIds) {
        if (limit > 0) {
            Thread.ofVirtual().name("reannounce-" + address).start(() -> announce(address, "finished_unheard", taskIds::contains));
        }
    }

    private synchronized boolean runAgain(String address) {
        if (again.remove(address)) {
            return true;
        }
        running.remove(address);
        return false;
    }

    /** Announces the finished tasks {@code address} owns; the first failure ends the round (it is noticed again). */
    void announce(String address, String why, Predicate<String> which) {
        long began = System.nanoTime();
        List<TaskSnapshot> held;
        try {
            held = held(address, which);
        } catch (IOException e) {
            log.warn("event=reannounce_failed scheduler={} error=\"{}\"", address, e.toString());
            return;
        }
        int announced = 0;
        String failure = null;
        long next = System.nanoTime();
        for (TaskSnapshot task : held) {
            long wait = next - System.nanoTime();
            if (wait > 0) {
                LockSupport.parkNanos(wait);
            }
            next = System.nanoTime() + SPACING.toNanos();
            String taskId = task.metadata().taskId();
            try {
                scheduler.announceHeld(address, taskId, peerId(taskId), download(task), timeout);
                announced++;
            } catch (SchedulerUnavailableException e) {
                failure = e.getMessage();
                break;
            }
        }
        log.info("event=tasks_reannounced scheduler={} reason={} tasks={} of={} took_ms={}{}", address, why, announced, held.size(),
                Duration.ofNanos(System.nanoTime() - began).toMillis(), failure == null ? "" : " stopped=\"" + failure + "\"");
    }

    /** Finished tasks on disk whose scheduler is {@code address}, the most recently used first, at most {@code limit}. */
    private List<TaskSnapshot> held(String address, Predicate<String> which) throws IOException {
        List<TaskSnapshot> held = new ArrayList<>();
        for (String id : storage.taskIds()) {
            if (!which.test(id) || !address.equals(scheduler.ownerOf(id))) {
                continue;
            }
            TaskSnapshot s = storage.snapshot(id);
            if (s != null && s.metadata().finished() && s.metadata().lengthKnown()) {
                held.add(s);
            }
        }
        held.sort(Comparator.comparing(TaskSnapshot::lastAccess).reversed());
        return held.size() > limit ? held.subList(0, limit) : held;
    }

    /** As a download's peer id (PeerDownload): host, the task's first 8 digits, a random part. */
    private String peerId(String taskId) {
        return hostId + "-" + taskId.substring(0, 8) + "-" + UUID.randomUUID();
    }

    private static Download download(TaskSnapshot task) {
        var m = task.metadata();
        return Download.newBuilder().setUrl(m.url()).setActualContentLength(m.contentLength()).setActualPieceLength(m.pieceLength())
                .setActualPieceCount(m.pieceCount()).build();
    }
}
