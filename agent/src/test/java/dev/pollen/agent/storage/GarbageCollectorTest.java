package dev.pollen.agent.storage;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.agent.config.ByteSize;
import dev.pollen.agent.config.GcConfig;
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
        GcConfig.Policy policy = new GcConfig.Policy(ttl, new ByteSize(quota), 80, 60);
        return new GarbageCollector(storage, policy, Clock.fixed(NOW, ZoneOffset.UTC),
                (id, action) -> !busy.contains(id) && action.test(id));
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
    }

    @Test
    void neverEvictsATaskInUse() throws Exception {
        Storage storage = new Storage(dir);
        String busy = store(storage, 1, 1000, NOW.minus(Duration.ofDays(30)));
        gc(storage, 100, Duration.ofHours(6), Set.of(busy)).collect();
        assertThat(storage.taskIds()).containsExactly(busy);
    }
}
