package dev.pollen.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.e2e.TestFiles.TestFile;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.proto.common.v2.Task;
import dev.pollen.proto.dfdaemon.v2.DfdaemonDownloadGrpc;
import dev.pollen.proto.dfdaemon.v2.DfdaemonUploadGrpc;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskRequest;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskResponse;
import dev.pollen.proto.dfdaemon.v2.StatTaskRequest;
import dev.pollen.proto.dfdaemon.v2.SyncPiecesRequest;
import dev.pollen.proto.dfdaemon.v2.SyncPiecesResponse;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.CRC32;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Many short exchanges at once against each of the daemon's servers: the local API over its Unix socket
 * (StatTask and DownloadTask of small files, many first-time downloads of one file among them), Vortex (one TCP
 * connection per piece) and the upload gRPC server (StatTask, SyncPieces), two rounds of them. Every answer is
 * checked against the files' own bytes, every call has a deadline, nothing may be logged at WARN or above, and
 * after each round the daemon must be back where it was: open descriptors settle back within a few, native
 * memory (direct buffers) and resident memory do not grow from one round to the next, and Netty's leak
 * detector (paranoid) reports no buffer that was never released.
 */
class ServerLoadTest {
    private static final int FILES = 24;
    private static final int UDS_CONNECTIONS = 40;
    private static final int UDS_CALLS = 400;
    private static final int VORTEX_CONNECTIONS = 300;
    private static final int UPLOAD_CONNECTIONS = 20;
    private static final int UPLOAD_CALLS = 300;
    private static final Duration CALL_DEADLINE = Duration.ofSeconds(30);
    /** Pollen's Vortex error code for "all upload slots in use". */
    private static final int BUSY = 4;
    /** Busy answers the Vortex calls got and asked again after (reported, not a failure). */
    private final java.util.concurrent.atomic.AtomicInteger busyAnswers = new java.util.concurrent.atomic.AtomicInteger();
    /** Descriptors the daemon may hold more at rest after a round: pooled keep-alive origin connections. */
    private static final int FD_TOLERANCE = 8;
    private static final long NATIVE_GROWTH_TOLERANCE = 8L << 20;
    private static final long RSS_GROWTH_TOLERANCE = 48L << 20;
    private static final Pattern PORTS = Pattern.compile("ports=upload:(\\d+),piece:(\\d+)");

    @RegisterExtension
    static final Nginx origin = new Nginx();

    @RegisterExtension
    final Daemons daemons = new Daemons();

    @TempDir
    Path schedulerDir;

    private static final List<TestFile> files = new ArrayList<>();

    @BeforeAll
    static void createFiles() {
        for (int i = 0; i < FILES; i++) {
            // 1 KiB to ~768 KiB: every file is one piece (the smallest piece length is 4 MiB).
            files.add(origin.createFile("small-" + i + ".bin", 1024 + i * 32L * 1024 + i, 300 + i));
        }
    }

    /** Where each file is known to the daemon, filled in by the first download of it. */
    private final Map<Integer, String> taskIds = new java.util.concurrent.ConcurrentHashMap<>();

    @Test
    void manyShortExchangesOnEveryServerAreAnsweredRightAndLeaveNothingBehind() throws Exception {
        SchedulerProcess scheduler = SchedulerProcess.start(schedulerDir, List.of(), "--port=0", "--listen=127.0.0.1");
        DaemonProcess daemon = null;
        try {
            daemon = daemons.start(daemons.newSpec()
                    .withLauncher(List.of("/usr/bin/env",
                            "POLLEN_JAVA_OPTS=-XX:NativeMemoryTracking=summary -Dio.netty.leakDetection.level=paranoid"))
                    .withFlags("--scheduler.addresses=127.0.0.1:" + scheduler.port(), "--host.ip=127.0.0.1",
                            "--upload.server.ip=127.0.0.1", "--upload.server.port=0", "--storage.server.tcpPort=0",
                            // Idle tasks are closed (their files too) at every housekeeping run: at rest, none is open.
                            "--gc.interval=1s"));
            Matcher ports = PORTS.matcher(daemon.logLines("event=ready").getFirst());
            assertThat(ports.find()).as(daemon.toString()).isTrue();
            int uploadPort = Integer.parseInt(ports.group(1));
            int vortexPort = Integer.parseInt(ports.group(2));
            long pid = daemon.pid();

            // Warm-up: the first half of the files stored, one exchange of each kind, so that lazily made
            // resources (event loops, pools) exist before the first count.
            try (DaemonChannel uds = DaemonChannel.uds(daemon.socket())) {
                for (int i = 0; i < FILES / 2; i++) {
                    download(uds, i);
                    stat(uds, i);
                }
            }
            vortex(vortexPort, 0);
            try (DaemonChannel upload = DaemonChannel.tcp("127.0.0.1", uploadPort)) {
                uploadStat(upload, 0);
                syncPieces(upload, 0, vortexPort);
            }
            Rest warm = atRest(daemon, null);

            Rest previous = warm;
            List<String> figures = new ArrayList<>();
            for (int round = 1; round <= 2; round++) {
                long started = System.nanoTime();
                round(daemon, uploadPort, vortexPort);
                long ms = (System.nanoTime() - started) / 1_000_000;
                Rest rest = atRest(daemon, warm);
                figures.add("round " + round + " (" + ms + " ms): fds " + rest.fds() + ", native other "
                        + (rest.nativeOther() >> 10) + " KiB, rss " + (rest.rss() >> 20) + " MiB");
                if (round == 2) {
                    assertThat(rest.nativeOther()).as("native memory (direct buffers) after round 2 vs round 1: " + figures)
                            .isLessThanOrEqualTo(previous.nativeOther() + NATIVE_GROWTH_TOLERANCE);
                    assertThat(rest.rss()).as("resident memory after round 2 vs round 1: " + figures)
                            .isLessThanOrEqualTo(previous.rss() + RSS_GROWTH_TOLERANCE);
                }
                previous = rest;
            }
            System.out.println("[e2e] server load: per round " + UDS_CALLS + " local API calls on " + UDS_CONNECTIONS
                    + " connections, " + VORTEX_CONNECTIONS + " Vortex connections (" + busyAnswers.get()
                    + " busy answers asked again in all), " + UPLOAD_CALLS + " upload calls on "
                    + UPLOAD_CONNECTIONS + " connections; at rest after warm-up: fds " + warm.fds() + ", native other "
                    + (warm.nativeOther() >> 10) + " KiB, rss " + (warm.rss() >> 20) + " MiB; " + figures);

            // A leaked buffer is reported when it is collected and the detector next looks: collect, then look.
            ProcessStats.gc(pid);
            try (DaemonChannel uds = DaemonChannel.uds(daemon.socket())) {
                for (int i = 0; i < FILES; i++) {
                    download(uds, i);
                }
            }
            vortex(vortexPort, 1);
            assertThat(daemon.logLines("LEAK")).as("Netty's leak detector").isEmpty();
            assertThat(daemon.stdout().lines().filter(l -> l.contains(" level=WARN ") || l.contains(" level=ERROR ")))
                    .as("warnings and errors under load").isEmpty();
            assertThat(daemon.stderr().lines().filter(l -> !l.startsWith("WARNING: "))).as("dfdaemon's stderr").isEmpty();
            // Stopped here, while the scheduler still runs, so that leaving it is part of a clean stop.
            assertThat(daemon.terminate()).as("exit on SIGTERM\n" + daemon).isEqualTo(143);
        } finally {
            if (daemon != null) {
                daemon.terminate();
            }
            scheduler.terminate();
        }
        assertThat(scheduler.errors()).as("the scheduler's errors").isEmpty();
    }

    /** One round: the three loads at once, every call checked, every call within its deadline. */
    private void round(DaemonProcess daemon, int uploadPort, int vortexPort) throws Exception {
        List<DaemonChannel> uds = new ArrayList<>();
        List<DaemonChannel> upload = new ArrayList<>();
        try (ExecutorService callers = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < UDS_CONNECTIONS; i++) {
                uds.add(DaemonChannel.uds(daemon.socket()));
            }
            for (int i = 0; i < UPLOAD_CONNECTIONS; i++) {
                upload.add(DaemonChannel.tcp("127.0.0.1", uploadPort));
            }
            CountDownLatch go = new CountDownLatch(1);
            List<Future<?>> calls = new ArrayList<>();
            for (int i = 0; i < UDS_CALLS; i++) {
                DaemonChannel channel = uds.get(i % UDS_CONNECTIONS);
                int call = i;
                calls.add(callers.submit(() -> {
                    go.await();
                    int file = ThreadLocalRandom.current().nextInt(FILES);
                    // Half download (the files not stored yet are first-time downloads, shared by their callers),
                    // half ask about a stored one.
                    if (call % 2 == 0 || !taskIds.containsKey(file)) {
                        download(channel, file);
                    }
                    stat(channel, file);
                    return null;
                }));
            }
            for (int i = 0; i < VORTEX_CONNECTIONS; i++) {
                calls.add(callers.submit(() -> {
                    go.await();
                    vortex(vortexPort, ThreadLocalRandom.current().nextInt(FILES / 2));
                    return null;
                }));
            }
            for (int i = 0; i < UPLOAD_CALLS; i++) {
                DaemonChannel channel = upload.get(i % UPLOAD_CONNECTIONS);
                int call = i;
                calls.add(callers.submit(() -> {
                    go.await();
                    int file = ThreadLocalRandom.current().nextInt(FILES / 2);
                    if (call % 2 == 0) {
                        uploadStat(channel, file);
                    } else {
                        syncPieces(channel, file, vortexPort);
                    }
                    return null;
                }));
            }
            go.countDown();
            List<Throwable> failures = new ArrayList<>();
            for (Future<?> call : calls) {
                try {
                    call.get(CALL_DEADLINE.toSeconds() + 30, TimeUnit.SECONDS);
                } catch (java.util.concurrent.ExecutionException e) {
                    failures.add(e.getCause());
                } catch (java.util.concurrent.TimeoutException e) {
                    failures.add(new AssertionError("a call outlived its deadline: stuck"));
                    call.cancel(true);
                }
            }
            assertThat(failures).as("failed calls of " + calls.size() + ": " + failures.stream().limit(5).toList()
                    + "\n" + daemon).isEmpty();
        } finally {
            uds.forEach(DaemonChannel::close);
            upload.forEach(DaemonChannel::close);
        }
    }

    /** What the daemon holds once the load is over and the counts have stopped moving. */
    private record Rest(int fds, long nativeOther, long rss) {
    }

    /**
     * Waits for the daemon to be at rest: every task closed by housekeeping (none of its files open; with
     * {@code gc.interval=1s} idle tasks close within a second) and, after a load, its descriptors back within
     * {@link #FD_TOLERANCE} of {@code baseline}. Then collects its garbage and reads its native and resident memory.
     */
    private static Rest atRest(DaemonProcess daemon, Rest baseline) {
        long pid = daemon.pid();
        String tasks = daemon.storage().resolve("tasks").toString();
        ConcurrentLinkedQueue<Integer> seen = new ConcurrentLinkedQueue<>();
        try {
            await("the daemon to close its tasks" + (baseline == null ? "" : " and its descriptors to settle back to about "
                    + baseline.fds()))
                    .atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200))
                    .until(() -> {
                        List<String> open = ProcessStats.descriptorTargets(pid);
                        seen.add(open.size());
                        return open.stream().noneMatch(t -> t.startsWith(tasks))
                                && (baseline == null || open.size() <= baseline.fds() + FD_TOLERANCE);
                    });
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            throw new AssertionError("descriptors leaked: " + seen.stream().toList().getLast() + " open"
                    + (baseline == null ? "" : ", " + baseline.fds() + " before the load") + "; open now: "
                    + summarize(ProcessStats.descriptorTargets(pid)), e);
        }
        ProcessStats.gc(pid);
        return new Rest(ProcessStats.openDescriptors(pid), ProcessStats.nativeOtherBytes(pid), ProcessStats.residentBytes(pid));
    }

    private static Map<String, Integer> summarize(List<String> targets) {
        Map<String, Integer> kinds = new HashMap<>();
        targets.forEach(t -> kinds.merge(t.startsWith("/") ? t : t.replaceAll("\\[\\d+]", ""), 1, Integer::sum));
        return kinds;
    }

    // ---- the exchanges, each checking its answer ----

    private void download(DaemonChannel channel, int file) {
        TestFile f = files.get(file);
        Iterator<DownloadTaskResponse> responses = DfdaemonDownloadGrpc.newBlockingStub(channel.channel())
                .withDeadlineAfter(CALL_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)
                .downloadTask(DownloadTaskRequest.newBuilder()
                        .setDownload(Download.newBuilder().setUrl(origin.url("/" + f.path().getFileName()))).build());
        long contentLength = -1;
        List<Piece> pieces = new ArrayList<>();
        String taskId = null;
        while (responses.hasNext()) {
            DownloadTaskResponse r = responses.next();
            taskId = r.getTaskId();
            if (r.hasDownloadTaskStartedResponse()) {
                contentLength = r.getDownloadTaskStartedResponse().getContentLength();
            } else if (r.hasDownloadPieceFinishedResponse()) {
                pieces.add(r.getDownloadPieceFinishedResponse().getPiece());
            }
        }
        assertThat(contentLength).as("content length of " + f.path().getFileName()).isEqualTo(f.size());
        checkPieces(f, pieces.stream().map(p -> new long[] {p.getNumber(), p.getOffset(), p.getLength()}).toList(),
                pieces.stream().map(Piece::getDigest).toList());
        taskIds.put(file, taskId);
    }

    private void stat(DaemonChannel channel, int file) {
        Task task = DfdaemonDownloadGrpc.newBlockingStub(channel.channel())
                .withDeadlineAfter(CALL_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)
                .statTask(StatTaskRequest.newBuilder().setTaskId(taskIds.get(file)).build());
        checkTask(file, task);
    }

    private void uploadStat(DaemonChannel channel, int file) {
        Task task = DfdaemonUploadGrpc.newBlockingStub(channel.channel())
                .withDeadlineAfter(CALL_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)
                .statTask(StatTaskRequest.newBuilder().setTaskId(taskIds.get(file)).build());
        checkTask(file, task);
    }

    private void checkTask(int file, Task task) {
        TestFile f = files.get(file);
        assertThat(task.getId()).isEqualTo(taskIds.get(file));
        assertThat(task.getContentLength()).isEqualTo(f.size());
        // A download's last piece is handed out before the task is synced and marked finished, so a stat right
        // after a first-time download may still say Running; its pieces (checked below) are all there either way.
        assertThat(task.getState()).isIn("Succeeded", "Running");
        checkPieces(f, task.getPiecesList().stream().map(p -> new long[] {p.getNumber(), p.getOffset(), p.getLength()}).toList(),
                task.getPiecesList().stream().map(Piece::getDigest).toList());
    }

    private void syncPieces(DaemonChannel channel, int file, int vortexPort) {
        Iterator<SyncPiecesResponse> responses = DfdaemonUploadGrpc.newBlockingStub(channel.channel())
                .withDeadlineAfter(CALL_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)
                .syncPieces(SyncPiecesRequest.newBuilder().setHostId("load-test-host").setTaskId(taskIds.get(file)).build());
        List<long[]> pieces = new ArrayList<>();
        while (responses.hasNext()) {
            SyncPiecesResponse r = responses.next();
            assertThat(r.getIp()).isEqualTo("127.0.0.1");
            assertThat(r.getTcpPort()).isEqualTo(vortexPort);
            pieces.add(new long[] {r.getNumber(), r.getOffset(), r.getLength()});
        }
        checkPieces(files.get(file), pieces, null);
    }

    /**
     * One piece, asked as a child asks: a "busy" answer (all upload slots taken, Vortex code 4) is a right answer
     * under this load, and the child asks again a moment later, until the call's deadline.
     */
    private void vortex(int port, int file) throws Exception {
        TestFile f = files.get(file);
        long deadline = System.nanoTime() + CALL_DEADLINE.toNanos();
        RawVortex.Piece piece;
        while (true) {
            try {
                piece = RawVortex.fetch(new InetSocketAddress("127.0.0.1", port), taskIds.get(file), 0, CALL_DEADLINE);
                break;
            } catch (RawVortex.ErrorAnswer e) {
                if (e.code != BUSY || System.nanoTime() > deadline) {
                    throw e;
                }
                busyAnswers.incrementAndGet();
                Thread.sleep(ThreadLocalRandom.current().nextInt(10, 50));
            }
        }
        assertThat(piece.number()).isZero();
        assertThat(piece.offset()).isZero();
        assertThat(piece.length()).isEqualTo(f.size());
        assertThat(piece.content()).as("piece bytes of " + f.path().getFileName()).isEqualTo(bytes(f));
        assertThat(piece.digest()).isEqualTo(crc32(bytes(f)));
    }

    /** One piece per file (they are all shorter than the smallest piece length), covering it; digests match. */
    private static void checkPieces(TestFile f, List<long[]> pieces, List<String> digests) {
        assertThat(pieces).as("pieces of " + f.path().getFileName()).hasSize(1);
        assertThat(pieces.getFirst()).containsExactly(0, 0, f.size());
        if (digests != null) {
            assertThat(digests).containsExactly(crc32(bytes(f)));
        }
    }

    private static final Map<Path, byte[]> CONTENT = new java.util.concurrent.ConcurrentHashMap<>();

    private static byte[] bytes(TestFile f) {
        return CONTENT.computeIfAbsent(f.path(), p -> {
            try {
                return Files.readAllBytes(p);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    private static String crc32(byte[] content) {
        CRC32 crc = new CRC32();
        crc.update(content);
        return "crc32:" + crc.getValue();
    }
}
