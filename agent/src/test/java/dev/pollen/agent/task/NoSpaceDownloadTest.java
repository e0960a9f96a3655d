package dev.pollen.agent.task;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.metrics.AgentMetrics;
import dev.pollen.agent.origin.Backoff;
import dev.pollen.agent.origin.OriginClient;
import dev.pollen.agent.origin.TestOrigin;
import dev.pollen.agent.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The storage disk fills up in the middle of a download: a real full filesystem (a 16 MiB tmpfs this
 * test mounts, as root, and unmounts), filled by another writer once the task has passed its up-front
 * space check.
 */
class NoSpaceDownloadTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private Path disk;
    private TestOrigin origin;
    private ExecutorService executor;
    private TaskManager tasks;
    private Storage storage;

    @BeforeEach
    void setUp() throws Exception {
        disk = Files.createDirectories(dir.resolve("disk"));
        run("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", disk.toString());
        origin = new TestOrigin();
        executor = Executors.newVirtualThreadPerTaskExecutor();
        storage = new Storage(disk.resolve("store"));
        OriginClient client = new OriginClient(3, new Backoff(Duration.ofMillis(10)), Duration.ofSeconds(2), Duration.ofSeconds(5));
        tasks = new TaskManager(storage, client, executor, 4, Clock.systemUTC(), null, AgentMetrics.none());
    }

    @AfterEach
    void tearDown() throws Exception {
        if (tasks != null) {
            tasks.close();
        }
        if (executor != null) {
            executor.shutdownNow();
        }
        if (origin != null) {
            origin.close();
        }
        run("umount", disk.toString());
    }

    private static void run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor()).as(String.join(" ", command) + ": " + out).isZero();
    }

    /** Another tenant of the disk writes until only {@code leave} bytes are free. */
    private void fillLeaving(long leave) {
        try (FileChannel filler = FileChannel.open(disk.resolve("filler"), StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            ByteBuffer chunk = ByteBuffer.allocate(64 * 1024);
            long room;
            while ((room = Files.getFileStore(disk).getUsableSpace() - leave) > 0) {
                chunk.clear().limit((int) Math.min(chunk.capacity(), room));
                filler.write(chunk);
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void aFullDiskFailsTheDownloadAtOnceAsNoSpaceAndReleasesThePartialTask() throws Exception {
        byte[] body = new byte[8 * MIB];
        new Random(1).nextBytes(body);
        origin.serve("/f", body);
        // Passes the up-front check (8 MiB of 16 free), then the disk fills while the pieces arrive.
        origin.beforeFirstPiece(() -> fillLeaving(512 * 1024));
        TaskSpec spec = new TaskSpec(origin.url("/f"), null, null, (long) MIB, Set.of(), Map.of());
        DownloadRequest request = new DownloadRequest(spec, null, null, dir.resolve("out"), false, false, true);

        assertThatThrownBy(() -> new Downloader(tasks).download(request, new DownloadListener() {
            @Override
            public void started(dev.pollen.agent.storage.TaskMetadata metadata) {
            }

            @Override
            public void pieceReady(ReadyPiece piece) {
            }
        }, new CompletableFuture<>()))
                .isInstanceOfSatisfying(PollenException.class, e -> {
                    assertThat(e.code()).isEqualTo(ErrorCode.NO_SPACE);
                    assertThat(e.code().exitCode()).isEqualTo(8);
                })
                .hasMessageContaining("no space left on the storage filesystem of")
                .hasMessageContaining("fix:");

        // Never retried against the origin: no range was asked for twice.
        List<String> ranges = origin.requestHeaders().stream()
                .map(h -> h.get("Range")).filter(Objects::nonNull).map(r -> r.get(0)).toList();
        assertThat(ranges.stream().collect(Collectors.groupingBy(r -> r, Collectors.counting())))
                .allSatisfy((range, times) -> assertThat(times).as(range).isEqualTo(1));
        // The partial task goes once its pieces in flight have ended, so the disk recovers.
        await().atMost(Duration.ofSeconds(10)).until(() -> !storage.exists(spec.taskId()));
        assertThat(dir.resolve("out")).doesNotExist();
    }
}
