package dev.pollen.agent.storage;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DurableFilesTest {
    @TempDir
    Path dir;

    /** A download and a stat of one task both rewrite its metadata; a shared temp name lost one write or tore it. */
    @Test
    void concurrentWritersOfOneFileNeverShareATemporaryFile() throws Exception {
        Path target = dir.resolve("metadata");
        int writers = 4;
        int writes = 200;
        CountDownLatch start = new CountDownLatch(1);
        List<Future<?>> done = new ArrayList<>();
        try (ExecutorService pool = Executors.newFixedThreadPool(writers)) {
            for (int w = 0; w < writers; w++) {
                String body = ("writer " + w + " ").repeat(500);
                done.add(pool.submit(() -> {
                    start.await();
                    for (int i = 0; i < writes; i++) {
                        DurableFiles.write(target, body.getBytes(StandardCharsets.UTF_8));
                    }
                    return null;
                }));
            }
            start.countDown();
            for (Future<?> f : done) {
                f.get(60, TimeUnit.SECONDS); // rethrows a writer's failure
            }
        }

        byte[] last = DurableFiles.read(target);
        assertThat(last).as("the file is one writer's whole body").isNotNull();
        assertThat(new String(last, StandardCharsets.UTF_8)).matches("(writer \\d )+");
        try (var files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).as("no temporary file is left").containsExactly("metadata");
        }
    }
}
