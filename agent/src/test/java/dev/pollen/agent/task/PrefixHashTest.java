package dev.pollen.agent.task;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pollen.agent.storage.ContentDigest;
import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.storage.StoredTask;
import dev.pollen.agent.storage.TaskMetadata;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.zip.CRC32;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PrefixHashTest {
    private static final int PIECE = 64 * 1024;
    private static final String TASK = "ab".repeat(32);

    @TempDir
    Path dir;

    @Test
    void piecesLandingInAnyOrderGiveTheWholeBlobsDigestOnceAllAreIn() throws Exception {
        byte[] content = new byte[5 * PIECE + 123];
        new Random(3).nextBytes(content);
        ContentDigest digest = new ContentDigest("sha256", HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content)));
        Storage storage = new Storage(dir);
        try (StoredTask task = storage.create(TaskMetadata.started(TASK, "http://origin/blob", content.length, PIECE, true, Map.of(),
                Instant.now()))) {
            PrefixHash hash = new PrefixHash(task, digest);
            for (int n : List.of(3, 1, 0, 5)) {
                land(task, content, n);
                hash.advance();
            }
            assertThatThrownBy(hash::finish).isInstanceOf(IOException.class).hasMessageContaining("no piece 2");
            land(task, content, 2);
            land(task, content, 4);

            assertThat(hash.finish()).isEqualTo(digest.expected());
            assertThat(hash.finish()).as("asked again").isEqualTo(digest.expected());
            assertThat(hash.hashes(task)).isTrue();
        }
    }

    private static void land(StoredTask task, byte[] content, int n) throws IOException {
        int offset = n * PIECE;
        int length = Math.min(PIECE, content.length - offset);
        task.content().write(ByteBuffer.wrap(content, offset, length), offset);
        CRC32 crc = new CRC32();
        crc.update(content, offset, length);
        task.recordPiece(new PieceRecord(n, offset, length, crc.getValue()));
    }
}
