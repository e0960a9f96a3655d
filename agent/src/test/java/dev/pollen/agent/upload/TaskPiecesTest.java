package dev.pollen.agent.upload;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pollen.agent.metrics.AgentMetrics;
import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.storage.StoredTask;
import dev.pollen.agent.storage.TaskMetadata;
import dev.pollen.agent.task.TaskManager;
import dev.pollen.agent.upload.vortex.PieceLease;
import dev.pollen.agent.vortex.VortexErrorCode;
import dev.pollen.agent.vortex.VortexException;
import dev.pollen.policy.SuperSeeding;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The daemon's Vortex pieces: a piece it cannot send is refused as Dragonfly's storage server refuses it
 * (dragonflyoss/client {@code dragonfly-client-storage/src/server/tcp.rs}, {@code handle_piece}: code NotFound,
 * {@code "piece {task_id}-{number} not found"}), whether the task or only the piece is missing.
 */
class TaskPiecesTest {
    private static final String TASK = "b".repeat(64);
    private static final int PIECE = 1024;

    @TempDir
    Path dir;

    private ExecutorService executor;
    private TaskManager tasks;

    @BeforeEach
    void setUp() throws Exception {
        Storage storage = new Storage(dir);
        try (StoredTask task = storage.create(TaskMetadata.started(TASK, "http://origin.example/blob", 2L * PIECE, PIECE,
                true, Map.of(), Instant.now()))) {
            byte[] piece = new byte[PIECE];
            task.content().write(ByteBuffer.wrap(piece), 0);
            CRC32 crc = new CRC32();
            crc.update(piece);
            task.recordPiece(new PieceRecord(0, 0, PIECE, crc.getValue()));
        }
        executor = Executors.newVirtualThreadPerTaskExecutor();
        tasks = new TaskManager(storage, null, executor, 4, Clock.systemUTC(), null, AgentMetrics.none());
    }

    @AfterEach
    void tearDown() {
        tasks.close();
        executor.close();
    }

    @Test
    void aMissingPieceIsNotFoundInDragonflysWords() {
        assertThatThrownBy(() -> new TaskPieces(tasks, SuperSeeding.OFF).lease(TASK, 1))
                .isInstanceOfSatisfying(VortexException.class, e -> {
                    assertThat(e.reason().wireCode()).isEqualTo(VortexErrorCode.NOT_FOUND);
                    assertThat(VortexErrorCode.NOT_FOUND.value()).isEqualTo(2);
                    assertThat(e.getMessage()).isEqualTo("piece " + TASK + "-1 not found");
                });
    }

    @Test
    void aMissingTaskIsTheSameNotFound() {
        String other = "c".repeat(64);

        assertThatThrownBy(() -> new TaskPieces(tasks, SuperSeeding.OFF).lease(other, 0))
                .isInstanceOfSatisfying(VortexException.class, e -> {
                    assertThat(e.reason().wireCode()).isEqualTo(VortexErrorCode.NOT_FOUND);
                    assertThat(e.getMessage()).isEqualTo("piece " + other + "-0 not found");
                });
    }

    @Test
    void aStoredPieceIsLeased() throws Exception {
        try (PieceLease lease = new TaskPieces(tasks, SuperSeeding.OFF).lease(TASK, 0)) {
            assertThat(lease.piece().number()).isZero();
        }
    }
}
