package dev.pollen.agent.storage;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.agent.storage.DurableFiles.Step;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The order in which the store makes things durable: what a power loss can leave behind depends on it. */
class DurabilityOrderTest {
    private static final String ID = "b".repeat(64);

    /** One durability step, with what the test could see on disk at that moment. */
    record Done(Step step, Path path, boolean metadataSaysFinished, boolean outputExists) {
    }

    @TempDir
    Path dir;

    private final List<Done> steps = new ArrayList<>();
    private Path output;

    @BeforeEach
    void watch() {
        DurableFiles.observer = (step, path) -> steps.add(new Done(step, path, metadataSaysFinished(), output != null && Files.exists(output)));
    }

    @AfterEach
    void unwatch() {
        DurableFiles.observer = (step, path) -> { };
    }

    @Test
    void aCreatedTaskHasItsDirectoryAndFilesDurableBeforeAnyPieceIsWritten() throws Exception {
        Storage storage = new Storage(dir);
        steps.clear();

        try (StoredTask ignored = storage.create(TaskMetadata.started(ID, "http://origin/f", 100, 100, true, Map.of(), Instant.EPOCH))) {
            Path taskDir = dir.resolve("tasks").resolve(ID);
            assertThat(steps).extracting(Done::step, Done::path).endsWith(
                    org.assertj.core.groups.Tuple.tuple(Step.SYNC_DIRECTORY, taskDir),
                    org.assertj.core.groups.Tuple.tuple(Step.SYNC_DIRECTORY, dir.resolve("tasks")));
        }
    }

    @Test
    void theContentAndJournalAreForcedBeforeTheMetadataSaysFinished() throws Exception {
        Storage storage = new Storage(dir);
        try (StoredTask task = storage.create(TaskMetadata.started(ID, "http://origin/f", 100, 100, true, Map.of(), Instant.EPOCH))) {
            writePiece(task, new byte[100]);
            steps.clear();

            task.finish();

            Path taskDir = dir.resolve("tasks").resolve(ID);
            int content = indexOf(Step.FORCE, taskDir.resolve(StoredTask.CONTENT));
            int journal = indexOf(Step.FORCE, taskDir.resolve(StoredTask.JOURNAL));
            int rename = indexOf(Step.RENAME, taskDir.resolve(StoredTask.METADATA));
            assertThat(content).as("content forced, in %s", steps).isNotNegative().isLessThan(rename);
            assertThat(journal).as("journal forced, in %s", steps).isNotNegative().isLessThan(rename);
            assertThat(steps.get(content).metadataSaysFinished()).as("finished on disk while the content was forced").isFalse();
            assertThat(steps.getLast()).as("the rename of the finished metadata is made durable")
                    .isEqualTo(new Done(Step.SYNC_DIRECTORY, taskDir, true, false));
        }
    }

    @Test
    void anOutputIsForcedBeforeItIsNamedAndItsDirectorySyncedAfter() throws Exception {
        assertOutputDurable(false);
    }

    @Test
    void anOverwrittenOutputIsForcedBeforeItIsNamedAndItsDirectorySyncedAfter() throws Exception {
        assertOutputDurable(true);
    }

    private void assertOutputDurable(boolean overwrite) throws Exception {
        Storage storage = new Storage(dir);
        Path outDir = Files.createDirectories(dir.resolve("out"));
        try (StoredTask task = storage.create(TaskMetadata.started(ID, "http://origin/f", 100, 100, true, Map.of(), Instant.EPOCH))) {
            writePiece(task, new byte[100]);
            task.finish();
            for (long length : new long[] {100, 50}) { // the whole file (a hard link here) and a range (a copy)
                output = outDir.resolve("out-" + length);
                if (overwrite) {
                    Files.writeString(output, "old");
                }
                steps.clear();

                OutputWriter.write(task, 0, length, output, overwrite, false);

                assertThat(steps).as("length %d", length).hasSize(2);
                assertThat(steps.get(0).step()).isEqualTo(Step.FORCE);
                assertThat(steps.get(0).path().getParent()).isEqualTo(outDir);
                assertThat(steps.get(0).outputExists()).as("output named before its bytes were forced").isEqualTo(overwrite);
                assertThat(steps.get(1)).isEqualTo(new Done(Step.SYNC_DIRECTORY, outDir, true, true));
                assertThat(Files.size(output)).isEqualTo(length);
            }
        }
    }

    private int indexOf(Step step, Path path) {
        for (int i = 0; i < steps.size(); i++) {
            if (steps.get(i).step() == step && steps.get(i).path().equals(path)) {
                return i;
            }
        }
        return -1;
    }

    private boolean metadataSaysFinished() {
        try {
            byte[] body = DurableFiles.read(dir.resolve("tasks").resolve(ID).resolve(StoredTask.METADATA));
            return body != null && new String(body, java.nio.charset.StandardCharsets.UTF_8).contains("\"finished\":true");
        } catch (IOException e) {
            return false;
        }
    }

    private static void writePiece(StoredTask task, byte[] bytes) throws IOException {
        task.content().write(ByteBuffer.wrap(bytes), 0);
        CRC32 crc = new CRC32();
        crc.update(bytes);
        task.recordPiece(new PieceRecord(0, 0, bytes.length, crc.getValue()));
    }
}
