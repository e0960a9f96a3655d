package dev.pollen.agent.storage;

import dev.pollen.agent.config.GcConfig;
import java.io.IOException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.BiPredicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Evicts stored tasks: first those not used for {@code gc.policy.taskTTL}, then, while Pollen's own
 * usage is above the high watermark of {@code gc.policy.diskQuota}, the least recently used until it
 * is below the low watermark. A task in use (being downloaded or read) is never evicted: eviction
 * goes through {@code whenIdle}, which refuses busy tasks.
 */
public final class GarbageCollector {
    private static final Logger log = LoggerFactory.getLogger(GarbageCollector.class);

    private final Storage storage;
    private final GcConfig.Policy policy;
    private final Clock clock;
    private final BiPredicate<String, java.util.function.Predicate<String>> whenIdle;

    /**
     * @param whenIdle runs the eviction for a task id only while no request uses it, returning false if it is busy
     */
    public GarbageCollector(Storage storage, GcConfig.Policy policy, Clock clock,
                            BiPredicate<String, java.util.function.Predicate<String>> whenIdle) {
        this.storage = storage;
        this.policy = policy;
        this.clock = clock;
        this.whenIdle = whenIdle;
    }

    record Entry(String taskId, Instant lastAccess, long bytes) {
    }

    /** One collection pass; returns the bytes freed. */
    public long collect() throws IOException {
        List<Entry> entries = new ArrayList<>();
        for (String id : storage.taskIds()) {
            entries.add(new Entry(id, lastAccess(id), storage.diskUsage(id)));
        }
        entries.sort(Comparator.comparing(Entry::lastAccess));
        long usage = entries.stream().mapToLong(Entry::bytes).sum();
        long freed = 0;
        Instant expiry = clock.instant().minus(policy.taskTTL());
        boolean overHigh = usage > policy.highWatermarkBytes();
        for (Entry e : entries) {
            boolean expired = e.lastAccess().isBefore(expiry);
            boolean overQuota = overHigh && usage - freed > policy.lowWatermarkBytes();
            if ((expired || overQuota) && evict(e.taskId())) {
                freed += e.bytes();
                log.info("event=task_evicted task={} bytes={} reason={}", e.taskId(), e.bytes(), expired ? "ttl" : "quota");
            }
        }
        return freed;
    }

    private Instant lastAccess(String id) {
        try {
            return java.nio.file.Files.getLastModifiedTime(storage.dir().resolve(id).resolve(StoredTask.METADATA)).toInstant();
        } catch (IOException e) {
            return Instant.EPOCH;
        }
    }

    private boolean evict(String taskId) {
        return whenIdle.test(taskId, id -> {
            try {
                storage.delete(id);
                return true;
            } catch (IOException e) {
                log.warn("event=task_evict_failed task={} error=\"{}\"", id, e.toString());
                return false;
            }
        });
    }
}
