package dev.pollen.agent.storage;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** A failed local write is named by asking the filesystem how full it is, whatever the exception says. */
class LocalStorageErrorTest {
    private static final Path FILE = Path.of("/var/lib/pollen/tasks/abc/content");

    private static DiskSpace usable(long bytes) {
        return new DiskSpace() {
            @Override
            public long usableBytes(Path path) {
                return bytes;
            }

            @Override
            public long totalBytes(Path path) {
                return 1L << 40;
            }
        };
    }

    @Test
    void aFullFilesystemIsNoSpaceWhateverTheMessageSays() {
        LocalWriteException failure = new LocalWriteException(128 * 1024, new IOException("something else entirely"));
        PollenException e = LocalStorageError.of("piece 3 of task abc", FILE, failure.bytesWanted(), failure, usable(4096));
        assertThat(e.code()).isEqualTo(ErrorCode.NO_SPACE);
        assertThat(e.code().exitCode()).isEqualTo(8);
        assertThat(e).hasMessageContaining("no space left on the storage filesystem of " + FILE.getParent())
                .hasMessageContaining("piece 3 of task abc").hasMessageContaining("4.0 KiB free").hasMessageContaining("fix:");
    }

    @Test
    void aFilesystemWithRoomMakesItALocalStorageErrorEvenIfTheMessageSaysNoSpace() {
        LocalWriteException failure = new LocalWriteException(128 * 1024, new IOException("No space left on device"));
        PollenException e = LocalStorageError.of("piece 3 of task abc", FILE, failure.bytesWanted(), failure, usable(10L << 30));
        assertThat(e.code()).isEqualTo(ErrorCode.INTERNAL);
        assertThat(e).hasMessageContaining("local storage error while writing piece 3 of task abc")
                .hasMessageContaining("not at fault");
    }

    @Test
    void aWriteBiggerThanTheRoomLeftIsNoSpace() {
        LocalWriteException failure = new LocalWriteException(8L << 20, new IOException("disk"));
        assertThat(LocalStorageError.of("x", FILE, failure.bytesWanted(), failure, usable(5L << 20)).code())
                .isEqualTo(ErrorCode.NO_SPACE);
    }
}
