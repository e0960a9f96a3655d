package dev.pollen.agent.task;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.metrics.AgentMetrics;
import dev.pollen.agent.origin.Backoff;
import dev.pollen.agent.origin.OriginClient;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.storage.TaskMetadata;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a task holds does not grow with its piece count, and lengths that would make it grow are refused. */
class BoundedPiecesTest {
    private static final int CONCURRENT_PIECES = 4;
    private static final int WINDOW = 2 * CONCURRENT_PIECES;

    @TempDir
    Path dir;

    private ScriptedOrigin origin;
    private final AtomicInteger liveThreads = new AtomicInteger();
    private final AtomicInteger mostThreads = new AtomicInteger();
    private ExecutorService executor;
    private ExecutorService callers;
    private TaskManager tasks;
    private Downloader downloader;

    @BeforeEach
    void setUp() throws Exception {
        origin = new ScriptedOrigin();
        // Counts the piece threads the task starts, to see that they do not grow with the piece count.
        executor = Executors.newThreadPerTaskExecutor(r -> Thread.ofVirtual().unstarted(() -> {
            mostThreads.accumulateAndGet(liveThreads.incrementAndGet(), Math::max);
            try {
                r.run();
            } finally {
                liveThreads.decrementAndGet();
            }
        }));
        callers = Executors.newVirtualThreadPerTaskExecutor();
        OriginClient client = new OriginClient(2, new Backoff(Duration.ofMillis(10)), Duration.ofSeconds(2), Duration.ofSeconds(30));
        tasks = new TaskManager(new Storage(dir.resolve("store")), client, executor, CONCURRENT_PIECES, Clock.systemUTC(), null, AgentMetrics.none());
        downloader = new Downloader(tasks);
    }

    @AfterEach
    void tearDown() {
        origin.close();
        callers.shutdownNow();
        tasks.close();
        executor.shutdownNow();
    }

    private static DownloadRequest request(String url, Long pieceLength, Path output) {
        return new DownloadRequest(new TaskSpec(url, null, null, pieceLength, Set.of(), Map.of()), null, null, output, false, false,
                true);
    }

    private static final DownloadListener IGNORE = new DownloadListener() {
        @Override
        public void started(TaskMetadata metadata) {
        }

        @Override
        public void pieceReady(ReadyPiece piece) {
        }
    };

    @Test
    void pieceLengthsBelowTheFloorAreRefusedNamingTheOption() {
        for (long tiny : new long[] {1, 1024}) {
            assertThatThrownBy(() -> request(origin.url("/f"), tiny, null))
                    .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.INVALID_ARGUMENT))
                    .hasMessageContaining("--piece-length")
                    .hasMessageContaining("Download.piece_length")
                    .hasMessageContaining("expected: 64.0 KiB..64.0 MiB");
        }
        assertThatThrownBy(() -> request(origin.url("/f"), (64L << 20) + 1, null)).hasMessageContaining("out of range");
    }

    @Test
    void aCallerHoldsAWindowOfPiecesNotOnePerPiece() throws Exception {
        // 4096 pieces of 64 KiB whose bytes never come: the download waits, holding only its window.
        origin.claim("/big", 256L << 20);
        CompletableFuture<Void> cancelled = new CompletableFuture<>();
        Future<TaskMetadata> big = callers.submit(() -> downloader.download(request(origin.url("/big"), 64L << 10, null), IGNORE,
                cancelled));
        await().atMost(Duration.ofSeconds(20)).until(() -> origin.stalled() == CONCURRENT_PIECES);
        String id = new TaskSpec(origin.url("/big"), null, null, 64L << 10, Set.of(), Map.of()).taskId();
        ActiveTask task = tasks.acquireExisting(id);
        try {
            assertThat(task.metadata().pieceCount()).isEqualTo(4096);
            assertThat(task.inFlightCount()).isLessThanOrEqualTo(WINDOW);
        } finally {
            tasks.release(task);
        }
        assertThat(mostThreads.get()).isLessThanOrEqualTo(WINDOW);

        // The node keeps serving others meanwhile.
        byte[] small = new byte[3 << 20];
        new Random(1).nextBytes(small);
        origin.serve("/small", small);
        Path out = dir.resolve("small");
        downloader.download(request(origin.url("/small"), null, out), IGNORE, new CompletableFuture<>());
        assertThat(Files.readAllBytes(out)).isEqualTo(small);

        cancelled.complete(null);
        assertThatThrownBy(() -> big.get(10, TimeUnit.SECONDS)).hasCauseInstanceOf(CancellationException.class);
    }

    @Test
    void anOriginClaimingATebibyteGetsAClearAnswerOrBoundedMemory() throws Exception {
        long tebibyte = 1L << 40;
        origin.claim("/huge", tebibyte);
        CompletableFuture<Void> cancelled = new CompletableFuture<>();
        Future<TaskMetadata> huge = callers.submit(() -> downloader.download(request(origin.url("/huge"), null, null), IGNORE,
                cancelled));
        await().atMost(Duration.ofSeconds(20)).until(() -> huge.isDone() || origin.stalled() == CONCURRENT_PIECES);
        if (huge.isDone()) {
            // The usual case: the disk cannot hold it, and the answer says so in the units a person reads.
            assertThatThrownBy(huge::get).isInstanceOf(ExecutionException.class).cause()
                    .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.NO_SPACE))
                    .hasMessageContaining("needs 1.0 TiB, has ").hasMessageContaining(" free under ");
        } else {
            // A disk that holds a sparse 1 TiB file: 16384 pieces of 64 MiB, of which only a window is held.
            assertThat(tasks.snapshot(new TaskSpec(origin.url("/huge"), null, null, null, Set.of(), Map.of()).taskId())
                    .metadata().pieceCount()).isEqualTo(16384);
            assertThat(mostThreads.get()).isLessThanOrEqualTo(WINDOW);
            cancelled.complete(null);
        }
        byte[] small = new byte[1 << 20];
        origin.serve("/small", small);
        downloader.download(request(origin.url("/small"), null, dir.resolve("small")), IGNORE, new CompletableFuture<>());
        assertThat(dir.resolve("small")).hasSize(small.length);
    }

    @Test
    void aFixedPieceLengthThatWouldNeedTooManyPiecesIsRefusedNamingTheLength() throws Exception {
        // 64 GiB at 64 KiB would be a million pieces: refused before anything is stored, with the length that works.
        origin.claim("/many", 64L << 30);
        assertThatThrownBy(() -> downloader.download(request(origin.url("/many"), 64L << 10, null), IGNORE,
                new CompletableFuture<>()))
                .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.INVALID_ARGUMENT))
                .hasMessageContaining("content length 68719476736 (64.0 GiB)")
                .hasMessageContaining("1048576 pieces of 64.0 KiB")
                .hasMessageContaining("raise Download.piece_length (dfget --piece-length) to at least 1.0 MiB");
        try (var stored = Files.list(dir.resolve("store/tasks"))) {
            assertThat(stored).isEmpty();
        }
    }
}
