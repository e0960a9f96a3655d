package dev.pollen.agent.storage;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.HexFormat;
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

    // Reading content back (a piece's CRC on reopening, a blob's digest as its pieces land) once took a new direct
    // buffer per piece: freed only by a GC, they filled the daemon's 64 MiB of direct memory every few dozen pieces,
    // and each time the JDK stopped the daemon for a full GC to get it back.

    @Test
    void reopeningAnUnfinishedTaskChecksItsPiecesWithNoDirectMemoryPerPiece() throws Exception {
        Storage storage = new Storage(dir);
        int pieces = 120;
        try (StoredTask task = storage.create(metadata(pieces * 1024L, 1024))) {
            for (int i = 0; i < pieces; i++) {
                write(task, i, random(1024, i), 1024);
            }
        }
        try (StoredTask warm = storage.open(ID)) { // the JDK's per-thread I/O buffer, once
            assertThat(warm.pieces()).hasSize(pieces);
        }
        long before = directBytes();
        try (StoredTask task = storage.open(ID)) {
            assertThat(task.pieces()).hasSize(pieces);
        }
        assertThat(directBytes() - before).isLessThan(8L << 20);
    }

    @Test
    void hashingStoredBytesTakesNoDirectMemoryPerCall() throws Exception {
        byte[] content = random((4 << 20) + 17, 3); // an odd length: the last read is a short one
        String expected = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content));
        try (StoredTask task = new Storage(dir).create(metadata(content.length, 4 << 20))) {
            task.content().write(ByteBuffer.wrap(content), 0);
            ContentDigest sha256 = ContentDigest.parse("sha256:" + expected);
            OutputWriter.digestOf(task, 0, content.length, sha256);
            long before = directBytes();
            for (int i = 0; i < 80; i++) {
                assertThat(OutputWriter.digestOf(task, 0, content.length, sha256)).isEqualTo(expected);
            }
            assertThat(directBytes() - before).isLessThan(8L << 20);
        }
    }

    private static long directBytes() {
        return ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
                .filter(pool -> pool.getName().equals("direct")).mapToLong(BufferPoolMXBean::getMemoryUsed).sum();
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
