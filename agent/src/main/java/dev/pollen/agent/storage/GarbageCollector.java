package dev.pollen.agent.storage;

import dev.pollen.agent.config.ByteSize;
import dev.pollen.agent.config.GcConfig;
import dev.pollen.agent.metrics.AgentMetrics;
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
 * is below the low watermark, and also while the storage filesystem's free space is under
 * {@code gc.policy.minFreeSpace} (other tenants, or a quota larger than the disk, can fill it: a full
 * disk fails every download, so the cache gives way). A task in use (being downloaded or read) is never
 * evicted: eviction goes through {@code whenIdle}, which refuses busy tasks.
 */
public final class GarbageCollector {
    private static final Logger log = LoggerFactory.getLogger(GarbageCollector.class);

    private final Storage storage;
    private final GcConfig.Policy policy;
    private final Clock clock;
    private final BiPredicate<String, java.util.function.Predicate<String>> whenIdle;
    private final DiskSpace space;
    private final AgentMetrics metrics;
    /** Whether the low free space was already reported: one line when it starts, not one per pass. */
    private boolean lowReported;

    /**
     * @param whenIdle runs the eviction for a task id only while no request uses it, returning false if it is busy
     */
    public GarbageCollector(Storage storage, GcConfig.Policy policy, Clock clock,
                            BiPredicate<String, java.util.function.Predicate<String>> whenIdle, AgentMetrics metrics) {
        this(storage, policy, clock, whenIdle, DiskSpace.FILE_STORE, metrics);
    }

    GarbageCollector(Storage storage, GcConfig.Policy policy, Clock clock,
                     BiPredicate<String, java.util.function.Predicate<String>> whenIdle, DiskSpace space, AgentMetrics metrics) {
        this.metrics = metrics;
        this.storage = storage;
        this.policy = policy;
        this.clock = clock;
        this.whenIdle = whenIdle;
        this.space = space;
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
        long floor = policy.minFreeSpace().bytesOf(space.totalBytes(storage.dir()));
        for (Entry e : entries) {
            boolean expired = e.lastAccess().isBefore(expiry);
            boolean overQuota = overHigh && usage - freed > policy.lowWatermarkBytes();
            // Asked again after each eviction: the filesystem, not our own count, says whether it is enough.
            boolean diskLow = !expired && !overQuota && space.usableBytes(storage.dir()) < floor;
            if ((expired || overQuota || diskLow) && evict(e.taskId())) {
                freed += e.bytes();
                String reason = expired ? "ttl" : overQuota ? "quota" : "free_space";
                log.info("event=task_evicted task={} bytes={} reason={}", e.taskId(), e.bytes(), reason);
                metrics.evicted(reason);
            }
        }
        long free = space.usableBytes(storage.dir());
        if (free < floor && !lowReported) {
            log.warn("event=gc_free_space_low dir={} free={} floor={} cause=\"what is left is in use or not Pollen's\" "
                    + "fix=\"free space on the disk or point storage.dir at a larger one\"", storage.dir(), ByteSize.human(free),
                    policy.minFreeSpace());
        }
        lowReported = free < floor;
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
