package dev.pollen.agent.storage;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.agent.config.ByteSize;
import dev.pollen.agent.config.FreeSpaceFloor;
import dev.pollen.agent.config.GcConfig;
import dev.pollen.agent.metrics.AgentMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GarbageCollectorTest {
    private static final Instant NOW = Instant.parse("2026-01-01T00:00:00Z");

    @TempDir
    Path dir;

    private final SimpleMeterRegistry meters = new SimpleMeterRegistry();

    private String store(Storage storage, int n, int bytes, Instant lastAccess) throws Exception {
        String id = String.format("%064x", n);
        try (StoredTask t = storage.create(TaskMetadata.started(id, "http://o/" + n, bytes, 4 << 20, true, Map.of(), NOW))) {
            t.content().write(ByteBuffer.allocate(bytes), 0);
            t.finish();
        }
        Files.setLastModifiedTime(dir.resolve("tasks").resolve(id).resolve("metadata"), FileTime.from(lastAccess));
        return id;
    }

    private GarbageCollector gc(Storage storage, long quota, Duration ttl, Set<String> busy) {
        return gc(storage, quota, ttl, busy, "0%", new FakeDisk(storage, Long.MAX_VALUE / 2, 0));
    }

    private GarbageCollector gc(Storage storage, long quota, Duration ttl, Set<String> busy, String minFree, DiskSpace disk) {
        GcConfig.Policy policy = new GcConfig.Policy(ttl, new ByteSize(quota), 80, 60, FreeSpaceFloor.parse(minFree));
        return new GarbageCollector(storage, policy, Clock.fixed(NOW, ZoneOffset.UTC),
                (id, action) -> !busy.contains(id) && action.test(id), disk, new AgentMetrics(meters));
    }

    private double evictions(String reason) {
        return meters.get("pollen.gc.evictions").tag("reason", reason).counter().count();
    }

    /** A disk of {@code total} bytes holding the store's tasks and {@code others} bytes that are not Pollen's. */
    private record FakeDisk(Storage storage, long total, long others) implements DiskSpace {
        @Override
        public long usableBytes(Path path) throws java.io.IOException {
            long used = others;
            for (String id : storage.taskIds()) {
                used += storage.diskUsage(id);
            }
            return total - used;
        }

        @Override
        public long totalBytes(Path path) {
            return total;
        }
    }

    @Test
    void evictsLeastRecentlyUsedWhileTheDiskIsUnderItsFreeSpaceFloor() throws Exception {
        Storage storage = new Storage(dir);
        String oldest = store(storage, 1, 1000, NOW.minusSeconds(400));
        String older = store(storage, 2, 1000, NOW.minusSeconds(300));
        String recent = store(storage, 3, 1000, NOW.minusSeconds(200));
        String busy = store(storage, 4, 1000, NOW.minusSeconds(500));
        // A 100 000-byte disk, 95 000 of them another tenant's: ~400 bytes free against a floor of 10% (10 000)...
        FakeDisk disk = new FakeDisk(storage, 100_000, 95_000);
        // ...with a quota far from reached: only the floor asks for evictions, oldest idle first.
        gc(storage, 1 << 30, Duration.ofDays(1), Set.of(busy), "10%", disk).collect();
        // Every idle task goes (the floor is out of reach while the other tenant holds its bytes); the busy one stays.
        assertThat(storage.taskIds()).containsExactly(busy).doesNotContain(oldest, older, recent);
        assertThat(evictions("free_space")).isEqualTo(3);
    }

    @Test
    void stopsEvictingOnceTheFreeSpaceFloorIsRestored() throws Exception {
        Storage storage = new Storage(dir);
        String oldest = store(storage, 1, 1000, NOW.minusSeconds(400));
        String older = store(storage, 2, 1000, NOW.minusSeconds(300));
        String recent = store(storage, 3, 1000, NOW.minusSeconds(200));
        // 10 000 bytes, 5 500 not Pollen's, ~3 900 Pollen's: ~600 free against a floor of 1500 bytes;
        // evicting the oldest task (~1300 bytes) is enough.
        FakeDisk disk = new FakeDisk(storage, 10_000, 5_500);
        assertThat(disk.usableBytes(dir)).isLessThan(1500);
        gc(storage, 1 << 30, Duration.ofDays(1), Set.of(), "1500", disk).collect();
        assertThat(storage.taskIds()).containsExactlyInAnyOrder(older, recent).doesNotContain(oldest);
        assertThat(disk.usableBytes(dir)).isGreaterThanOrEqualTo(1500);
    }

    @Test
    void evictsNothingForTheFloorWhileTheDiskHasRoom() throws Exception {
        Storage storage = new Storage(dir);
        store(storage, 1, 1000, NOW.minusSeconds(400));
        assertThat(gc(storage, 1 << 30, Duration.ofDays(1), Set.of(), "5%", new FakeDisk(storage, 1 << 30, 0)).collect()).isZero();
        assertThat(storage.taskIds()).hasSize(1);
    }

    @Test
    void evictsLeastRecentlyUsedUntilBelowTheLowWatermark() throws Exception {
        Storage storage = new Storage(dir);
        String oldest = store(storage, 1, 1000, NOW.minusSeconds(400));
        String older = store(storage, 2, 1000, NOW.minusSeconds(300));
        String recent = store(storage, 3, 1000, NOW.minusSeconds(200));
        String newest = store(storage, 4, 1000, NOW.minusSeconds(100));
        // four tasks of ~1300 bytes (content + metadata) = ~5200 against a quota of 6000: above the
        // high watermark (4800), so the oldest go until usage is below the low one (3600)
        gc(storage, 6000, Duration.ofDays(1), Set.of()).collect();
        assertThat(storage.taskIds()).containsExactlyInAnyOrder(recent, newest).doesNotContain(oldest, older);
    }

    @Test
    void leavesEverythingBelowTheHighWatermark() throws Exception {
        Storage storage = new Storage(dir);
        store(storage, 1, 1000, NOW.minusSeconds(400));
        store(storage, 2, 1000, NOW.minusSeconds(300));
        assertThat(gc(storage, 100_000, Duration.ofDays(1), Set.of()).collect()).isZero();
        assertThat(storage.taskIds()).hasSize(2);
    }

    @Test
    void evictsTasksPastTheirTtl() throws Exception {
        Storage storage = new Storage(dir);
        String stale = store(storage, 1, 10, NOW.minus(Duration.ofHours(7)));
        String fresh = store(storage, 2, 10, NOW.minus(Duration.ofHours(1)));
        gc(storage, 1 << 30, Duration.ofHours(6), Set.of()).collect();
        assertThat(storage.taskIds()).containsExactly(fresh).doesNotContain(stale);
        assertThat(evictions("ttl")).isEqualTo(1);
        assertThat(meters.find("pollen.gc.evictions").tag("reason", "quota").counter()).isNull();
    }

    @Test
    void neverEvictsATaskInUse() throws Exception {
        Storage storage = new Storage(dir);
        String busy = store(storage, 1, 1000, NOW.minus(Duration.ofDays(30)));
        gc(storage, 100, Duration.ofHours(6), Set.of(busy)).collect();
        assertThat(storage.taskIds()).containsExactly(busy);
    }
}
