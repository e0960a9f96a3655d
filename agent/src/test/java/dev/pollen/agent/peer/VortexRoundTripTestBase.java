package dev.pollen.agent.peer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.storage.StoredTask;
import dev.pollen.agent.storage.TaskMetadata;
import dev.pollen.agent.upload.vortex.StoragePieces;
import dev.pollen.agent.upload.vortex.UploadPieces;
import dev.pollen.agent.vortex.VortexErrorCode;
import dev.pollen.agent.vortex.VortexException;
import dev.pollen.agent.upload.vortex.VortexServer;
import dev.pollen.agent.vortex.VortexTransport;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real server over a real store and a real client over real sockets, written once and rerun per
 * transport (Netty's SocketFileRegionTest pattern): the bytes that land must be the parent's bytes.
 */
abstract class VortexRoundTripTestBase {
    static final int PIECE = 1 << 20;
    static final long LENGTH = 2L * PIECE + PIECE / 2 + 7;
    static final String FULL = "a".repeat(64);
    static final String PARTIAL = "b".repeat(64);
    static final Duration TIMEOUT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    private Storage parentStore;
    private Storage childStore;
    private StoragePieces pieces;
    private ExecutorService lookups;
    private VortexServer server;
    private VortexClient client;
    private byte[] data;
    private final List<PieceRecord> parentRecords = new ArrayList<>();

    abstract VortexTransport transport();

    static TaskMetadata metadata(String taskId) {
        return TaskMetadata.started(taskId, "http://origin/blob", LENGTH, PIECE, true, Map.of(), Instant.EPOCH);
    }

    @BeforeEach
    void setUp() throws Exception {
        assumeTrue(transport().available(), transport() + " is not available on this machine");
        parentStore = new Storage(dir.resolve("parent"));
        childStore = new Storage(dir.resolve("child"));
        data = new byte[(int) LENGTH];
        new Random(42).nextBytes(data);
        try (StoredTask full = parentStore.create(metadata(FULL)); StoredTask partial = parentStore.create(metadata(PARTIAL))) {
            for (int n = 0; n < full.metadata().pieceCount(); n++) {
                parentRecords.add(store(full, n));
            }
            store(partial, 0);
        }
        pieces = new StoragePieces(parentStore);
        lookups = Executors.newVirtualThreadPerTaskExecutor();
        server = VortexServer.start(VortexServer.Options.defaults().withAddress(new InetSocketAddress("127.0.0.1", 0))
                .withTransport(transport()), pieces, lookups, Clock.systemUTC());
        client = new VortexClient(VortexClient.Options.defaults().withTransport(transport()));
    }

    private PieceRecord store(StoredTask task, int n) throws Exception {
        long offset = (long) n * PIECE;
        int length = (int) Math.min(PIECE, LENGTH - offset);
        ByteBuffer bytes = ByteBuffer.wrap(data, (int) offset, length);
        task.content().write(bytes.duplicate(), offset);
        CRC32 crc = new CRC32();
        crc.update(bytes);
        PieceRecord record = new PieceRecord(n, offset, length, crc.getValue());
        task.recordPiece(record);
        return record;
    }

    @AfterEach
    void tearDown() throws Exception {
        if (client != null) {
            client.close();
        }
        if (server != null) {
            server.close();
        }
        if (pieces != null) {
            pieces.close();
        }
        if (lookups != null) {
            lookups.close();
        }
    }

    @Test
    void fetchesEveryPieceAndItsBytesAndCrcMatchTheParents() throws Exception {
        try (StoredTask target = childStore.create(metadata(FULL))) {
            for (int n = 0; n < parentRecords.size(); n++) {
                PieceRecord fetched = client.fetch(server.address(), target, n, TIMEOUT);
                assertThat(fetched).isEqualTo(parentRecords.get(n));
                assertThat(target.piece(n)).isEqualTo(fetched);
            }
            assertThat(Files.readAllBytes(target.contentPath())).isEqualTo(data);
        }
        assertThat(server.stats().piecesServed()).isEqualTo(parentRecords.size());
        assertThat(server.stats().bytesServed()).isEqualTo(LENGTH);
    }

    @Test
    void aRateLimitedServerDeliversEveryByteAtNoMoreThanItsLimit() throws Exception {
        long limit = PIECE; // 1 MiB/s for all uploads together
        try (VortexServer capped = VortexServer.start(VortexServer.Options.defaults()
                .withAddress(new InetSocketAddress("127.0.0.1", 0)).withTransport(transport()).withRateLimit(limit),
                pieces, lookups, Clock.systemUTC());
             StoredTask target = childStore.create(metadata(FULL))) {
            long start = System.nanoTime();
            for (int n = 0; n < parentRecords.size(); n++) {
                assertThat(client.fetch(capped.address(), target, n, TIMEOUT)).isEqualTo(parentRecords.get(n));
            }
            Duration took = Duration.ofNanos(System.nanoTime() - start);
            assertThat(Files.readAllBytes(target.contentPath())).isEqualTo(data);
            // 2.5 MiB at 1 MiB/s: the shaper lets the first second's worth through at once, so at least 1 s.
            assertThat(took).isGreaterThanOrEqualTo(Duration.ofSeconds(1));
        }
    }

    @Test
    void aServerAtItsConcurrentPieceLimitQueuesTheNextRequestAndServesItInTurn() throws Exception {
        CountDownLatch firstMayGo = new CountDownLatch(1);
        List<Integer> leased = new java.util.concurrent.CopyOnWriteArrayList<>();
        UploadPieces firstOneBlocks = (taskId, number) -> {
            leased.add(number);
            if (leased.size() == 1) {
                try {
                    firstMayGo.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return pieces.lease(taskId, number);
        };
        try (VortexServer limited = VortexServer.start(VortexServer.Options.defaults()
                .withAddress(new InetSocketAddress("127.0.0.1", 0)).withTransport(transport()).withConcurrentPieceLimit(1)
                .withSlotWait(TIMEOUT), firstOneBlocks, lookups, Clock.systemUTC());
             StoredTask target = childStore.create(metadata(FULL));
             ExecutorService callers = Executors.newVirtualThreadPerTaskExecutor()) {
            Future<PieceRecord> first = callers.submit(() -> client.fetch(limited.address(), target, 0, TIMEOUT));
            await().atMost(TIMEOUT).until(() -> limited.stats().uploading() == 1);
            Future<PieceRecord> second = callers.submit(() -> client.fetch(limited.address(), target, 1, TIMEOUT));
            await().atMost(TIMEOUT).until(() -> limited.stats().waiting() == 1);
            // The second request waits for the slot: it has not even been looked up.
            assertThat(leased).containsExactly(0);
            assertThat(second).isNotDone();

            firstMayGo.countDown();
            assertThat(first.get()).isEqualTo(parentRecords.get(0));
            assertThat(second.get()).isEqualTo(parentRecords.get(1));
            assertThat(leased).containsExactly(0, 1);
            await().atMost(TIMEOUT).until(() -> limited.stats().uploading() == 0);
            assertThat(limited.stats().waiting()).isZero();
        }
    }

    @Test
    void aServerOutOfSlotsAnswersBusyAfterItsSlotWaitAndTheChildCanTellBusyFromFailure() throws Exception {
        CountDownLatch firstMayGo = new CountDownLatch(1);
        UploadPieces firstOneBlocks = (taskId, number) -> {
            if (number == 0) {
                try {
                    firstMayGo.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return pieces.lease(taskId, number);
        };
        Duration slotWait = Duration.ofMillis(200);
        try (VortexServer limited = VortexServer.start(VortexServer.Options.defaults()
                .withAddress(new InetSocketAddress("127.0.0.1", 0)).withTransport(transport()).withConcurrentPieceLimit(1)
                .withSlotWait(slotWait), firstOneBlocks, lookups, Clock.systemUTC());
             StoredTask target = childStore.create(metadata(FULL));
             ExecutorService callers = Executors.newVirtualThreadPerTaskExecutor()) {
            Future<PieceRecord> first = callers.submit(() -> client.fetch(limited.address(), target, 0, TIMEOUT));
            await().atMost(TIMEOUT).until(() -> limited.stats().uploading() == 1);

            long start = System.nanoTime();
            assertThatThrownBy(() -> client.fetch(limited.address(), target, 1, TIMEOUT))
                    .isInstanceOfSatisfying(VortexException.class, e -> {
                        assertThat(e.reason()).isEqualTo(VortexException.Reason.BUSY);
                        assertThat(e.remoteCode()).isEqualTo(VortexErrorCode.BUSY.value());
                    });
            Duration took = Duration.ofNanos(System.nanoTime() - start);
            assertThat(took).as("answered after the slot wait, not after the piece").isGreaterThanOrEqualTo(slotWait)
                    .isLessThan(TIMEOUT);
            assertThat(limited.stats().busyAnswers()).isEqualTo(1);

            firstMayGo.countDown();
            assertThat(first.get()).isEqualTo(parentRecords.get(0));
            assertThat(client.fetch(limited.address(), target, 1, TIMEOUT)).as("the parent serves again once a slot frees")
                    .isEqualTo(parentRecords.get(1));
        }
    }

    @Test
    void fetchesPiecesInParallelFromVirtualThreads() throws Exception {
        try (StoredTask target = childStore.create(metadata(FULL));
             ExecutorService callers = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<PieceRecord>> results = new ArrayList<>();
            for (int n = 0; n < parentRecords.size(); n++) {
                int number = n;
                results.add(callers.submit(() -> client.fetch(server.address(), target, number, TIMEOUT)));
            }
            for (int n = 0; n < results.size(); n++) {
                assertThat(results.get(n).get()).isEqualTo(parentRecords.get(n));
            }
            assertThat(Files.readAllBytes(target.contentPath())).isEqualTo(data);
        }
    }

    @Test
    void anUnknownTaskIsAClearNotFoundFromTheParent() throws Exception {
        String unknown = "c".repeat(64);
        try (StoredTask target = childStore.create(metadata(unknown))) {
            assertThatThrownBy(() -> client.fetch(server.address(), target, 0, TIMEOUT))
                    .isInstanceOfSatisfying(VortexException.class, e -> {
                        assertThat(e.reason()).isEqualTo(VortexException.Reason.REMOTE_ERROR);
                        assertThat(e.remoteCode()).isEqualTo(VortexErrorCode.NOT_FOUND.value());
                        assertThat(e.getMessage()).contains("NOT_FOUND").contains("piece " + unknown + "-0 not found");
                    });
            assertThat(target.piece(0)).isNull();
        }
    }

    @Test
    void aPieceTheParentHasNotStoredIsNotFoundAndTheConnectionStaysUsable() throws Exception {
        try (StoredTask target = childStore.create(metadata(PARTIAL))) {
            assertThatThrownBy(() -> client.fetch(server.address(), target, 1, TIMEOUT))
                    .isInstanceOfSatisfying(VortexException.class,
                            e -> assertThat(e.remoteCode()).isEqualTo(VortexErrorCode.NOT_FOUND.value()));
            assertThat(client.fetch(server.address(), target, 0, TIMEOUT).number()).isZero();
            assertThat(target.piece(1)).isNull();
        }
    }

    @Test
    void aPieceThatDoesNotExistIsRefusedLocally() throws Exception {
        try (StoredTask target = childStore.create(metadata(FULL))) {
            assertThatThrownBy(() -> client.fetch(server.address(), target, 3, TIMEOUT))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("does not exist");
        }
    }

    @Test
    void anUnreachableParentIsAConnectFailure() throws Exception {
        InetSocketAddress closed = server.address();
        server.close();
        server = null;
        try (StoredTask target = childStore.create(metadata(FULL))) {
            assertThatThrownBy(() -> client.fetch(closed, target, 0, TIMEOUT))
                    .isInstanceOfSatisfying(VortexException.class,
                            e -> assertThat(e.reason()).isEqualTo(VortexException.Reason.CONNECT_FAILED));
        }
    }
}
