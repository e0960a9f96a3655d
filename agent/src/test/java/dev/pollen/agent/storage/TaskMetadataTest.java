package dev.pollen.agent.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TaskMetadataTest {
    private static TaskMetadata task(long contentLength, long pieceLength) {
        return TaskMetadata.started("t", "http://o/f", contentLength, pieceLength, true, Map.of(), Instant.EPOCH);
    }

    @Test
    void countsPiecesWithoutOverflowingNearTheLargestLength() {
        // (length + pieceLength - 1) wraps around for a length this close to Long.MAX_VALUE.
        assertThat(task(Long.MAX_VALUE - 1, 1L << 40).pieceCount()).isEqualTo(8388608);
        assertThat(task(0, 4L << 20).pieceCount()).isZero();
        assertThat(task(1, 4L << 20).pieceCount()).isEqualTo(1);
        assertThat(task(8L << 20, 4L << 20).pieceCount()).isEqualTo(2);
        assertThat(task(-1, 4L << 20).pieceCount()).isEqualTo(-1);
    }

    @Test
    void refusesAPieceCountAnIntCannotHoldAndAPieceLengthOfZero() {
        assertThatThrownBy(() -> task(1L << 40, 1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("needs more than 2147483647 pieces");
        assertThatThrownBy(() -> task(100, 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("piece length 0");
    }
}
