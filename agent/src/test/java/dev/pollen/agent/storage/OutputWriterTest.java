package dev.pollen.agent.storage;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OutputWriterTest {
    @TempDir
    Path dir;

    @Test
    void hashingStoredBytesTakesNoDirectMemoryPerCall() throws Exception {
        // An odd length: the last read is a short one.
        byte[] content = new byte[(4 << 20) + 17];
        new Random(3).nextBytes(content);
        String expected = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content));
        TaskMetadata meta = TaskMetadata.started("b".repeat(64), "http://origin/f", content.length, 4 << 20, true, Map.of(),
                Instant.EPOCH);
        try (StoredTask task = new Storage(dir).create(meta)) {
            task.content().write(ByteBuffer.wrap(content), 0);
            ContentDigest sha256 = ContentDigest.parse("sha256:" + expected);
            OutputWriter.digestOf(task, 0, content.length, sha256); // the JDK's per-thread I/O buffer, once
            long before = directBytes();
            for (int i = 0; i < 80; i++) {
                assertThat(OutputWriter.digestOf(task, 0, content.length, sha256)).isEqualTo(expected);
            }
            // A direct buffer per call (1 MiB each, freed only by a GC) filled the daemon's 64 MiB of direct memory
            // every few pieces, and each time the JDK stopped the daemon for a full GC to get it back.
            assertThat(directBytes() - before).isLessThan(8L << 20);
        }
    }

    private static long directBytes() {
        return ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
                .filter(pool -> pool.getName().equals("direct")).mapToLong(BufferPoolMXBean::getMemoryUsed).sum();
    }
}
