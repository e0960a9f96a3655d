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
import dev.pollen.agent.storage.TaskMetadata;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One task's slow work holds up neither the node's other tasks nor the task's own readers. */
class TaskConcurrencyTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private ScriptedOrigin origin;
    private ExecutorService executor;
    private TaskManager tasks;
    private Downloader downloader;

    @BeforeEach
    void setUp() throws Exception {
        origin = new ScriptedOrigin();
        executor = Executors.newVirtualThreadPerTaskExecutor();
        tasks = new TaskManager(new Storage(dir.resolve("store")), client(), executor, 4, Clock.systemUTC(), null, AgentMetrics.none());
        downloader = new Downloader(tasks);
    }

    @AfterEach
    void tearDown() {
        origin.close();
        tasks.close();
        executor.shutdownNow();
    }

    private static OriginClient client() {
        return new OriginClient(2, new Backoff(Duration.ofMillis(10)), Duration.ofSeconds(2), Duration.ofSeconds(30));
    }

    private static TaskSpec spec(String url) {
        return new TaskSpec(url, null, null, null, Set.of(), Map.of());
    }

    private static DownloadRequest request(String url, Path output) {
        return new DownloadRequest(spec(url), null, null, output, false, false, true);
    }

    private static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static final DownloadListener IGNORE = new DownloadListener() {
        @Override
        public void started(TaskMetadata metadata) {
        }

        @Override
        public void pieceReady(ReadyPiece piece) {
        }
    };

    /** A download on a platform thread of its own, so the test can see whether it waits or is blocked. */
    private FutureTask<TaskMetadata> startDownload(String url, Path output) {
        FutureTask<TaskMetadata> call = new FutureTask<>(() -> downloader.download(request(url, output), IGNORE,
                new CompletableFuture<>()));
        Thread.ofPlatform().name("caller-" + output.getFileName()).start(call);
        return call;
    }

    private static <T> T within(Duration limit, java.util.concurrent.Callable<T> call) throws Exception {
        FutureTask<T> task = new FutureTask<>(call);
        Thread.ofPlatform().daemon().start(task);
        return task.get(limit.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Test
    void aSecondCallerJoinsTheFirstsPrepareAndNothingElseWaitsForIt() throws Exception {
        byte[] body = random(6 * MIB, 1);
        origin.serve("/slow", body);
        origin.holdProbes();
        String slow = origin.url("/slow");
        FutureTask<TaskMetadata> first = startDownload(slow, dir.resolve("first"));
        await().atMost(Duration.ofSeconds(10)).until(() -> origin.probes() == 1);
        FutureTask<TaskMetadata> secondCall = new FutureTask<>(() -> downloader.download(request(slow, dir.resolve("second")),
                IGNORE, new CompletableFuture<>()));
        Thread second = Thread.ofPlatform().name("caller-second").start(secondCall);
        // Waiting for the first caller's preparation, not blocked on a lock the origin probe holds.
        await().atMost(Duration.ofSeconds(10)).until(() -> second.getState() == Thread.State.WAITING);

        // Meanwhile the task and the manager answer at once, and another task downloads.
        String id = spec(slow).taskId();
        assertThat(within(Duration.ofSeconds(5), () -> tasks.isActive(id))).isTrue();
        assertThat(within(Duration.ofSeconds(5), () -> tasks.snapshot(id))).isNull();
        within(Duration.ofSeconds(5), () -> {
            tasks.closeIdle();
            return null;
        });
        // (From a second origin: this one holds every probe.)
        try (TestOrigin other = new TestOrigin()) {
            other.serve("/other", random(MIB, 2));
            within(Duration.ofSeconds(10), () -> downloader.download(request(other.url("/other"), dir.resolve("other")), IGNORE,
                    new CompletableFuture<>()));
        }
        assertThat(dir.resolve("other")).hasSize(MIB);

        origin.releaseProbes();
        first.get(20, TimeUnit.SECONDS);
        secondCall.get(20, TimeUnit.SECONDS);
        assertThat(Files.readAllBytes(dir.resolve("first"))).isEqualTo(body);
        assertThat(Files.readAllBytes(dir.resolve("second"))).isEqualTo(body);
        assertThat(origin.probes()).isEqualTo(1);
    }

    @Test
    void aFailedPrepareIsNotKeptTheNextCallerTriesAgain() throws Exception {
        try (TestOrigin flaky = new TestOrigin()) {
            byte[] body = random(MIB, 3);
            flaky.serve("/f", body);
            flaky.failFirst("/f", 1, 404);
            assertThatThrownBy(() -> downloader.download(request(flaky.url("/f"), dir.resolve("a")), IGNORE,
                    new CompletableFuture<>()))
                    .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.ORIGIN_NOT_FOUND));
            downloader.download(request(flaky.url("/f"), dir.resolve("b")), IGNORE, new CompletableFuture<>());
            assertThat(Files.readAllBytes(dir.resolve("b"))).isEqualTo(body);
        }
    }

    @Test
    void aCallerWaitingForAnothersPrepareStopsWhenItIsCancelled() throws Exception {
        origin.serve("/slow", random(MIB, 4));
        origin.holdProbes();
        FutureTask<TaskMetadata> first = startDownload(origin.url("/slow"), dir.resolve("first"));
        await().atMost(Duration.ofSeconds(10)).until(() -> origin.probes() == 1);
        CompletableFuture<Void> cancelled = new CompletableFuture<>();
        FutureTask<TaskMetadata> second = new FutureTask<>(() -> downloader.download(request(origin.url("/slow"), null), IGNORE,
                cancelled));
        Thread waiting = Thread.ofPlatform().start(second);
        await().atMost(Duration.ofSeconds(10)).until(() -> waiting.getState() == Thread.State.WAITING);
        cancelled.complete(null);
        assertThatThrownBy(() -> second.get(5, TimeUnit.SECONDS))
                .hasCauseInstanceOf(java.util.concurrent.CancellationException.class);
        origin.releaseProbes();
        first.get(20, TimeUnit.SECONDS);
    }

    @Test
    void oneTasksBookkeepingDoesNotHoldUpRequestsForOthers() throws Exception {
        try (TestOrigin plain = new TestOrigin()) {
            plain.serve("/a", random(MIB, 7));
            plain.serve("/b", random(MIB, 8));
            downloader.download(request(plain.url("/a"), null), IGNORE, new CompletableFuture<>());
            String a = spec(plain.url("/a")).taskId();
            await().atMost(Duration.ofSeconds(10)).until(() -> !tasks.isActive(a));
            ActiveTask taskA = tasks.acquireExisting(a);
            tasks.release(taskA);
            CountDownLatch held = new CountDownLatch(1);
            CountDownLatch letGo = new CountDownLatch(1);
            // Task A's monitor held as its own bookkeeping would hold it: housekeeping asking whether A is busy waits.
            Thread holder = Thread.ofPlatform().start(() -> {
                synchronized (taskA) {
                    held.countDown();
                    try {
                        letGo.await(30, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            });
            assertThat(held.await(10, TimeUnit.SECONDS)).isTrue();
            Thread sweeping = Thread.ofPlatform().start(tasks::closeIdle);
            Thread deleting = Thread.ofPlatform().start(() -> tasks.whenIdle(a, id -> true));
            await().atMost(Duration.ofSeconds(10)).until(() -> sweeping.getState() == Thread.State.BLOCKED
                    && deleting.getState() == Thread.State.BLOCKED);

            within(Duration.ofSeconds(10), () -> downloader.download(request(plain.url("/b"), dir.resolve("b")), IGNORE,
                    new CompletableFuture<>()));
            assertThat(dir.resolve("b")).hasSize(MIB);
            letGo.countDown();
            holder.join(10_000);
            sweeping.join(10_000);
            deleting.join(10_000);
            assertThat(sweeping.isAlive() || deleting.isAlive()).isFalse();
        }
    }

    @Test
    void deletingATaskDoesNotHoldUpRequestsForOthers() throws Exception {
        try (TestOrigin plain = new TestOrigin()) {
            plain.serve("/a", random(MIB, 5));
            plain.serve("/b", random(MIB, 6));
            downloader.download(request(plain.url("/a"), null), IGNORE, new CompletableFuture<>());
            String a = spec(plain.url("/a")).taskId();
            await().atMost(Duration.ofSeconds(10)).until(() -> !tasks.isActive(a));
            CountDownLatch deleting = new CountDownLatch(1);
            CountDownLatch letGo = new CountDownLatch(1);
            // Stands in for removing a multi-GB task: the action takes as long as the test says.
            FutureTask<Boolean> delete = new FutureTask<>(() -> tasks.whenIdle(a, id -> {
                deleting.countDown();
                try {
                    return letGo.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    return false;
                }
            }));
            Thread.ofPlatform().start(delete);
            assertThat(deleting.await(10, TimeUnit.SECONDS)).isTrue();

            within(Duration.ofSeconds(10), () -> downloader.download(request(plain.url("/b"), dir.resolve("b")), IGNORE,
                    new CompletableFuture<>()));
            assertThat(dir.resolve("b")).hasSize(MIB);
            assertThat(within(Duration.ofSeconds(5), () -> tasks.isActive(a))).isFalse();
            assertThat(within(Duration.ofSeconds(5), () -> tasks.acquireExisting(a))).isNull();

            // A request for the task being deleted waits for the delete, then starts afresh.
            FutureTask<TaskMetadata> again = new FutureTask<>(() -> downloader.download(request(plain.url("/a"), dir.resolve("a")),
                    IGNORE, new CompletableFuture<>()));
            Thread waiting = Thread.ofPlatform().start(again);
            await().atMost(Duration.ofSeconds(10)).until(() -> waiting.getState() == Thread.State.WAITING);
            assertThat(again).isNotDone();
            letGo.countDown();
            assertThat(delete.get(10, TimeUnit.SECONDS)).isTrue();
            again.get(10, TimeUnit.SECONDS);
            assertThat(dir.resolve("a")).hasSize(MIB);
        }
    }

    @Test
    void aPieceListenerThatThrowsIsDroppedAndTheWaiterStillHearsOfThePiece() throws Exception {
        origin.serve("/f", random(8 * MIB, 7));
        ActiveTask task = tasks.acquire(spec(origin.url("/f")), true, new CompletableFuture<>());
        try {
            AtomicInteger calls = new AtomicInteger();
            task.onPiece(piece -> {
                calls.incrementAndGet();
                throw new IllegalStateException("the listener's stream is gone");
            });
            AtomicInteger healthy = new AtomicInteger();
            task.onPiece(piece -> healthy.incrementAndGet());
            assertThat(task.piece(0, true).get(10, TimeUnit.SECONDS).origin()).isEqualTo(PieceOrigin.BACK_TO_SOURCE);
            assertThat(task.piece(1, true).get(10, TimeUnit.SECONDS).origin()).isEqualTo(PieceOrigin.BACK_TO_SOURCE);
            assertThat(calls).hasValue(1);
            assertThat(healthy).hasValue(2);
        } finally {
            tasks.release(task);
        }
    }
}
