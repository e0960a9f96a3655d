package dev.pollen.agent.storage;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.Map;
import java.util.Random;
import java.util.zip.CRC32;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StoredTaskTest {
    private static final String ID = "a".repeat(64);

    @TempDir
    Path dir;

    private static TaskMetadata metadata(long length, long pieceLength) {
        return TaskMetadata.started(ID, "http://origin/f", length, pieceLength, true, Map.of(), Instant.EPOCH);
    }

    private static PieceRecord write(StoredTask task, int number, byte[] bytes, long pieceLength) throws IOException {
        long offset = number * pieceLength;
        task.content().write(ByteBuffer.wrap(bytes), offset);
        CRC32 crc = new CRC32();
        crc.update(bytes);
        PieceRecord r = new PieceRecord(number, offset, bytes.length, crc.getValue());
        task.recordPiece(r);
        return r;
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void reopensWithTheJournaledPieces() throws Exception {
        Storage storage = new Storage(dir);
        try (StoredTask task = storage.create(metadata(300, 100))) {
            write(task, 0, random(100, 1), 100);
            write(task, 2, random(100, 2), 100);
        }
        try (StoredTask task = storage.open(ID)) {
            assertThat(task.pieces()).extracting(PieceRecord::number).containsExactly(0, 2);
            assertThat(task.metadata().finished()).isFalse();
        }
    }

    @Test
    void dropsAPieceWhoseBytesDoNotMatchItsCrc() throws Exception {
        Storage storage = new Storage(dir);
        try (StoredTask task = storage.create(metadata(200, 100))) {
            write(task, 0, random(100, 1), 100);
            write(task, 1, random(100, 2), 100);
        }
        try (FileChannel ch = FileChannel.open(dir.resolve("tasks").resolve(ID).resolve("content"), StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {42}), 150);
        }
        try (StoredTask task = storage.open(ID)) {
            assertThat(task.pieces()).extracting(PieceRecord::number).containsExactly(0);
        }
    }

    @Test
    void aTornJournalTailEndsTheLogInsteadOfBeingTrusted() throws Exception {
        Storage storage = new Storage(dir);
        try (StoredTask task = storage.create(metadata(200, 100))) {
            write(task, 0, random(100, 1), 100);
            write(task, 1, random(100, 2), 100);
        }
        Path journal = dir.resolve("tasks").resolve(ID).resolve("pieces");
        byte[] all = Files.readAllBytes(journal);
        Files.write(journal, java.util.Arrays.copyOf(all, all.length - 5));
        try (StoredTask task = storage.open(ID)) {
            assertThat(task.pieces()).extracting(PieceRecord::number).containsExactly(0);
        }
    }

    @Test
    void aFinishedTaskSurvivesReopening() throws Exception {
        Storage storage = new Storage(dir);
        try (StoredTask task = storage.create(metadata(150, 100))) {
            write(task, 0, random(100, 1), 100);
            write(task, 1, random(50, 2), 100);
            task.finish();
        }
        try (StoredTask task = storage.open(ID)) {
            assertThat(task.metadata().finished()).isTrue();
            assertThat(task.storedBytes()).isEqualTo(150);
        }
    }

    @Test
    void damagedMetadataDiscardsTheTask() throws Exception {
        Storage storage = new Storage(dir);
        storage.create(metadata(100, 100)).close();
        Path meta = dir.resolve("tasks").resolve(ID).resolve("metadata");
        byte[] bytes = Files.readAllBytes(meta);
        bytes[bytes.length - 3] ^= 1;
        Files.write(meta, bytes);
        assertThat(storage.open(ID)).isNull();
        assertThat(dir.resolve("tasks").resolve(ID)).doesNotExist();
    }

    @Test
    void acceptsOnlyHexTaskIdsSoNoRequestCanNameAPath() {
        assertThat(Storage.isTaskId(ID)).isTrue();
        assertThat(Storage.isTaskId("../../etc/passwd")).isFalse();
        assertThat(Storage.isTaskId("A".repeat(64))).isFalse();
    }

    @Test
    void durableFilesRejectACorruptedBody() throws Exception {
        Path f = dir.resolve("m");
        DurableFiles.write(f, "hello".getBytes());
        assertThat(DurableFiles.read(f)).isEqualTo("hello".getBytes());
        Files.writeString(f, Files.readString(f).replace("hello", "hellO"));
        assertThat(DurableFiles.read(f)).isNull();
        assertThat(DurableFiles.read(dir.resolve("absent"))).isNull();
    }
}
