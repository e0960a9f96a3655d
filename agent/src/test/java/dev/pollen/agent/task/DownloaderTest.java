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
import dev.pollen.agent.storage.ContentDigest;
import dev.pollen.agent.storage.StalledContentSyncs;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.storage.TaskMetadata;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DownloaderTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private TestOrigin origin;
    private ExecutorService executor;
    private TaskManager tasks;
    private Downloader downloader;
    private Storage storage;

    @BeforeEach
    void setUp() throws Exception {
        origin = new TestOrigin();
        executor = Executors.newVirtualThreadPerTaskExecutor();
        storage = new Storage(dir.resolve("store"));
        OriginClient client = new OriginClient(3, new Backoff(Duration.ofMillis(10)), Duration.ofSeconds(2), Duration.ofSeconds(5));
        tasks = new TaskManager(storage, client, executor, 4, Clock.systemUTC(), null, AgentMetrics.none());
        downloader = new Downloader(tasks);
    }

    @AfterEach
    void tearDown() {
        tasks.close();
        executor.shutdownNow();
        origin.close();
    }

    private static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static String sha256(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }

    private DownloadRequest request(String url, Path output) {
        return request(url, output, null, null);
    }

    private DownloadRequest request(String url, Path output, DownloadRequest.ByteRange range, ContentDigest digest) {
        return new DownloadRequest(new TaskSpec(url, null, null, null, Set.of(), Map.of()), range, digest, output, false, false, true);
    }

    private static final class Recorder implements DownloadListener {
        final List<ReadyPiece> pieces = new ArrayList<>();
        TaskMetadata started;

        @Override
        public void started(TaskMetadata metadata) {
            started = metadata;
        }

        @Override
        public synchronized void pieceReady(ReadyPiece piece) {
            pieces.add(piece);
        }
    }

    @Test
    void downloadsARangedOriginInPiecesAndWritesTheOutput() throws Exception {
        byte[] body = random(10 * MIB + 123, 1);
        origin.serve("/f", body);
        Recorder rec = new Recorder();
        Path out = dir.resolve("out.bin");
        downloader.download(request(origin.url("/f"), out), rec, new CompletableFuture<>());
        assertThat(Files.readAllBytes(out)).isEqualTo(body);
        assertThat(rec.started.rangeSupported()).isTrue();
        assertThat(rec.pieces).hasSize(3).allMatch(p -> p.origin() == PieceOrigin.BACK_TO_SOURCE);
        assertThat(rec.pieces).extracting(p -> p.record().digest()).allMatch(d -> d.matches("crc32:\\d+"));
        assertThat(origin.bodyBytesSent()).isEqualTo(body.length + 1);
    }

    @Test
    void servesAStoredTaskWithoutAskingTheOrigin() throws Exception {
        byte[] body = random(5 * MIB, 2);
        origin.serve("/f", body);
        downloader.download(request(origin.url("/f"), dir.resolve("a")), new Recorder(), new CompletableFuture<>());
        long sent = origin.bodyBytesSent();
        Recorder rec = new Recorder();
        downloader.download(request(origin.url("/f"), dir.resolve("b")), rec, new CompletableFuture<>());
        assertThat(origin.bodyBytesSent()).isEqualTo(sent);
        assertThat(rec.pieces).allMatch(p -> p.origin() == PieceOrigin.LOCAL_PEER);
        assertThat(Files.readAllBytes(dir.resolve("b"))).isEqualTo(body);
    }

    @Test
    void concurrentCallersShareOneDownload() throws Exception {
        byte[] body = random(12 * MIB, 3);
        origin.serve("/f", body);
        List<Future<?>> calls = new ArrayList<>();
        try (ExecutorService callers = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < 20; i++) {
                Path out = dir.resolve("out-" + i);
                calls.add(callers.submit(() -> downloader.download(request(origin.url("/f"), out), new Recorder(),
                        new CompletableFuture<>())));
            }
            for (Future<?> f : calls) {
                f.get();
            }
        }
        for (int i = 0; i < 20; i++) {
            assertThat(sha256(Files.readAllBytes(dir.resolve("out-" + i)))).isEqualTo(sha256(body));
        }
        assertThat(origin.bodyBytesSent()).isEqualTo(body.length + 1);
    }

    @Test
    void aRangeRequestFetchesOnlyThePiecesItNeeds() throws Exception {
        byte[] body = random(20 * MIB, 4);
        origin.serve("/f", body);
        Path out = dir.resolve("range.bin");
        Recorder rec = new Recorder();
        downloader.download(request(origin.url("/f"), out, new DownloadRequest.ByteRange(9 * MIB, 2 * MIB), null), rec,
                new CompletableFuture<>());
        assertThat(Files.readAllBytes(out)).isEqualTo(java.util.Arrays.copyOfRange(body, 9 * MIB, 11 * MIB));
        assertThat(rec.pieces).extracting(p -> p.record().number()).containsExactlyInAnyOrder(2);
        assertThat(origin.bodyBytesSent()).isEqualTo(4L * MIB + 1);
    }

    @Test
    void streamsFromAnOriginThatIgnoresRanges() throws Exception {
        byte[] body = random(9 * MIB + 7, 5);
        origin.serveWithoutRanges("/f", body);
        Recorder rec = new Recorder();
        downloader.download(request(origin.url("/f"), dir.resolve("o")), rec, new CompletableFuture<>());
        assertThat(Files.readAllBytes(dir.resolve("o"))).isEqualTo(body);
        assertThat(rec.started.rangeSupported()).isFalse();
        assertThat(origin.bodyBytesSent()).isEqualTo(body.length);
    }

    @Test
    void handlesChunkedResponsesOfUnknownLength() throws Exception {
        byte[] body = random(8 * MIB, 6);
        origin.serveChunked("/f", body);
        Recorder rec = new Recorder();
        downloader.download(request(origin.url("/f"), dir.resolve("o")), rec, new CompletableFuture<>());
        assertThat(Files.readAllBytes(dir.resolve("o"))).isEqualTo(body);
        assertThat(rec.started.lengthKnown()).isFalse();
        assertThat(rec.pieces).hasSize(2);
        // the length learned at the end is kept: a second request is served from storage
        downloader.download(request(origin.url("/f"), dir.resolve("o2")), new Recorder(), new CompletableFuture<>());
        assertThat(origin.bodyBytesSent()).isEqualTo(body.length);
    }

    @Test
    void downloadsAnEmptyFile() throws Exception {
        origin.serve("/empty", new byte[0]);
        downloader.download(request(origin.url("/empty"), dir.resolve("e")), new Recorder(), new CompletableFuture<>());
        assertThat(dir.resolve("e")).exists().isEmptyFile();
    }

    @Test
    void followsRelativeRedirectsAndPassesHeaders() throws Exception {
        byte[] body = random(MIB, 7);
        origin.serve("/real", body);
        origin.redirect("/moved", 302, "/real");
        TaskSpec spec = new TaskSpec(origin.url("/moved"), null, null, null, Set.of(), Map.of("Authorization", "Bearer t0k"));
        downloader.download(new DownloadRequest(spec, null, null, dir.resolve("r"), false, false, true), new Recorder(),
                new CompletableFuture<>());
        assertThat(Files.readAllBytes(dir.resolve("r"))).isEqualTo(body);
        assertThat(origin.requestHeaders()).allSatisfy(h -> assertThat(h.get("Authorization")).containsExactly("Bearer t0k"));
    }

    @Test
    void retriesServerErrorsWithBackoff() throws Exception {
        byte[] body = random(MIB, 8);
        origin.serve("/f", body);
        origin.failFirst("/f", 2, 503);
        downloader.download(request(origin.url("/f"), dir.resolve("o")), new Recorder(), new CompletableFuture<>());
        assertThat(Files.readAllBytes(dir.resolve("o"))).isEqualTo(body);
    }

    @Test
    void reportsOriginStatusesThatNameTheUrl() {
        origin.status("/missing", 404);
        origin.status("/secret", 403);
        assertThatThrownBy(() -> downloader.download(request(origin.url("/missing"), dir.resolve("o")), new Recorder(),
                new CompletableFuture<>()))
                .isInstanceOfSatisfying(PollenException.class, e -> {
                    assertThat(e.code()).isEqualTo(ErrorCode.ORIGIN_NOT_FOUND);
                    assertThat(e.originStatus()).isEqualTo(404);
                })
                .hasMessageContaining("404").hasMessageContaining(origin.url("/missing"));
        assertThatThrownBy(() -> downloader.download(request(origin.url("/secret"), dir.resolve("o")), new Recorder(),
                new CompletableFuture<>()))
                .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.ORIGIN_DENIED));
        assertThat(dir.resolve("o")).doesNotExist();
    }

    @Test
    void failsAfterRetriesWhenServerErrorsPersist() {
        origin.serve("/f", random(MIB, 9));
        origin.failFirst("/f", 100, 500);
        assertThatThrownBy(() -> downloader.download(request(origin.url("/f"), dir.resolve("o")), new Recorder(),
                new CompletableFuture<>()))
                .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.ORIGIN_STATUS))
                .hasMessageContaining("500");
    }

    @Test
    void aDigestMismatchLeavesNoOutput() throws Exception {
        byte[] body = random(2 * MIB, 10);
        origin.serve("/f", body);
        ContentDigest wrong = ContentDigest.parse("sha256:" + "0".repeat(64));
        assertThatThrownBy(() -> downloader.download(request(origin.url("/f"), dir.resolve("o"), null, wrong), new Recorder(),
                new CompletableFuture<>()))
                .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.DIGEST_MISMATCH))
                .hasMessageContaining("expected sha256:0000");
        try (Stream<Path> files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("store");
        }
        ContentDigest right = ContentDigest.parse("sha256:" + sha256(body));
        downloader.download(request(origin.url("/f"), dir.resolve("o"), null, right), new Recorder(), new CompletableFuture<>());
        assertThat(Files.readAllBytes(dir.resolve("o"))).isEqualTo(body);
    }

    @Test
    void refusesToOverwriteOrWriteIntoAMissingDirectory() throws Exception {
        origin.serve("/f", random(MIB, 11));
        Files.writeString(dir.resolve("exists"), "mine");
        assertThatThrownBy(() -> downloader.download(request(origin.url("/f"), dir.resolve("exists")), new Recorder(),
                new CompletableFuture<>()))
                .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.OUTPUT_EXISTS));
        assertThat(Files.readString(dir.resolve("exists"))).isEqualTo("mine");
        assertThatThrownBy(() -> downloader.download(request(origin.url("/f"), dir.resolve("no/such/dir/f")), new Recorder(),
                new CompletableFuture<>()))
                .hasMessageContaining("does not exist");
        assertThat(origin.bodyBytesSent()).isZero();
    }

    @Test
    void resumesAfterARestartFetchingOnlyMissingPieces() throws Exception {
        byte[] body = random(16 * MIB, 12);
        origin.serve("/f", body);
        // first run fetches only a range (pieces 1 and 2), as if interrupted
        downloader.download(request(origin.url("/f"), null, new DownloadRequest.ByteRange(4 * MIB, 8 * MIB), null),
                new Recorder(), new CompletableFuture<>());
        tasks.close();
        long before = origin.bodyBytesSent();
        TaskManager restarted = new TaskManager(new Storage(dir.resolve("store")), new OriginClient(3,
                new Backoff(Duration.ofMillis(10)), Duration.ofSeconds(2), Duration.ofSeconds(5)), executor, 4, Clock.systemUTC(), null, AgentMetrics.none());
        new Downloader(restarted).download(request(origin.url("/f"), dir.resolve("o")), new Recorder(), new CompletableFuture<>());
        restarted.close();
        assertThat(Files.readAllBytes(dir.resolve("o"))).isEqualTo(body);
        assertThat(origin.bodyBytesSent() - before).isEqualTo(8L * MIB);
    }

    @Test
    void hardLinksTheOutputAndRefetchesPiecesCorruptedThroughTheLink() throws Exception {
        byte[] body = random(8 * MIB, 13);
        origin.serve("/f", body);
        Path out = dir.resolve("linked");
        downloader.download(request(origin.url("/f"), out), new Recorder(), new CompletableFuture<>());
        String taskId = new TaskSpec(origin.url("/f"), null, null, null, Set.of(), Map.of()).taskId();
        Path content = dir.resolve("store/tasks").resolve(taskId).resolve("content");
        assertThat(Files.isSameFile(out, content)).isTrue();
        // Housekeeping closes the task once it is idle (made durable too), so the next request opens it again.
        await().atMost(Duration.ofSeconds(10)).until(() -> !tasks.isActive(taskId));
        tasks.closeIdle();
        long before = origin.bodyBytesSent();
        try (var ch = java.nio.channels.FileChannel.open(out, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap(new byte[] {1, 2, 3}), 5 * MIB);
        }
        Files.setLastModifiedTime(out, java.nio.file.attribute.FileTime.from(java.time.Instant.now().plusSeconds(5)));
        Path again = dir.resolve("again");
        downloader.download(request(origin.url("/f"), again), new Recorder(), new CompletableFuture<>());
        assertThat(Files.readAllBytes(again)).isEqualTo(body);
        assertThat(origin.bodyBytesSent() - before).isEqualTo(4L * MIB);
    }

    @Test
    void rejectsBadUrlsBeforeAnyRequest() {
        assertThatThrownBy(() -> request("ftp://example.com/f", dir.resolve("o")))
                .hasMessageContaining("unsupported url scheme 'ftp'");
        assertThatThrownBy(() -> request("http://exa mple.com/f", dir.resolve("o"))).hasMessageContaining("malformed url");
        assertThatThrownBy(() -> request("not a url", dir.resolve("o"))).isInstanceOf(PollenException.class);
    }

    @Test
    void reportsAnUnreachableOrigin() throws Exception {
        int closedPort;
        try (var s = new java.net.ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        assertThatThrownBy(() -> downloader.download(request("http://127.0.0.1:" + closedPort + "/f", dir.resolve("o")),
                new Recorder(), new CompletableFuture<>()))
                .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.ORIGIN_UNREACHABLE))
                .hasMessageContaining("cannot connect to origin");
    }

    @Test
    void aTaskBeingMadeDurableStillAnswersItsReaders() throws Exception {
        byte[] body = random(8 * MIB, 7);
        origin.serve("/f", body);
        // Platform threads fetch the pieces here, so the test can see the one that waits to finish the task.
        ExecutorService platform = Executors.newCachedThreadPool();
        TaskManager platformTasks = new TaskManager(storage, new OriginClient(3, new Backoff(Duration.ofMillis(10)),
                Duration.ofSeconds(2), Duration.ofSeconds(5)), platform, 4, Clock.systemUTC(), null, AgentMetrics.none());
        ActiveTask task = platformTasks.acquire(new TaskSpec(origin.url("/f"), null, null, null, Set.of(), Map.of()), true,
                new CompletableFuture<>());
        try {
            task.piece(0, true).get(10, TimeUnit.SECONDS);
            // A stalled content sync stands in for a slow fsync: finish() cannot complete until it is let go.
            try (StalledContentSyncs slowSync = new StalledContentSyncs()) {
                assertThat(task.piece(1, true).get(10, TimeUnit.SECONDS).origin()).isEqualTo(PieceOrigin.BACK_TO_SOURCE);
                slowSync.awaitStalled(Duration.ofSeconds(10));
                // The last piece's thread is now waiting to make the task durable: readers are not held up by it.
                CompletableFuture<ReadyPiece> again = CompletableFuture.supplyAsync(() -> task.piece(0, true).join(), executor);
                assertThat(again.get(5, TimeUnit.SECONDS).origin()).isEqualTo(PieceOrigin.LOCAL_PEER);
                assertThat(task.metadata().finished()).isFalse();
                // With no lease left it still counts as in use, so housekeeping does not close it halfway.
                platformTasks.release(task);
                assertThat(task.busy()).isTrue();
                // A write through a hard-linked output meanwhile...
                Files.setLastModifiedTime(dir.resolve("store/tasks").resolve(task.id()).resolve("content"),
                        java.nio.file.attribute.FileTime.from(java.time.Instant.now().plusSeconds(5)));
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> task.metadata().finished());
            await().atMost(Duration.ofSeconds(10)).until(() -> !task.busy());
            // ...is not taken for the task's own: the recorded time is from when the last piece landed.
            assertThat(task.metadata().contentModifiedMillis()).isLessThan(task.store().contentModifiedMillis());
        } finally {
            platformTasks.close();
            platform.shutdownNow();
        }
    }
}
