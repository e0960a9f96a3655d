package dev.pollen.agent.task;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;

import org.junit.jupiter.api.Test;

class PieceLengthsTest {
    private static final long MIB = 1L << 20;

    @Test
    void smallFilesGetTheMinimum() {
        assertThat(PieceLengths.forContentLength(0)).isEqualTo(4 * MIB);
        assertThat(PieceLengths.forContentLength(1)).isEqualTo(4 * MIB);
        assertThat(PieceLengths.forContentLength(1024 * MIB)).isEqualTo(4 * MIB);
    }

    @Test
    void roundsContentLengthOver500UpToAPowerOfTwo() {
        // 5 GiB / 500 = 10.24 MiB -> 16 MiB
        assertThat(PieceLengths.forContentLength(5L << 30)).isEqualTo(16 * MIB);
        // exactly 8 MiB per piece stays 8 MiB
        assertThat(PieceLengths.forContentLength(500 * 8 * MIB)).isEqualTo(8 * MIB);
        assertThat(PieceLengths.forContentLength(500 * 8 * MIB + 500)).isEqualTo(16 * MIB);
    }

    @Test
    void hugeFilesAreClampedToTheMaximum() {
        assertThat(PieceLengths.forContentLength(1L << 40)).isEqualTo(64 * MIB);
    }

    @Test
    void unknownLengthGetsTheMinimum() {
        assertThat(PieceLengths.forContentLength(-1)).isEqualTo(4 * MIB);
    }

    @Test
    void aTebibyteAtTheDefaultLengthFitsTheCapAndFiveDoNot() {
        assertThat(PieceLengths.forTask("http://o/f", 1L << 40, null)).isEqualTo(64 * MIB);
        assertThat(PieceLengths.MAX_PIECE_COUNT).isGreaterThanOrEqualTo((int) ((1L << 40) / (64 * MIB)));
        assertThatThrownBy(() -> PieceLengths.forTask("http://o/f", 5L << 40, null))
                .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.INVALID_ARGUMENT))
                .hasMessageContaining("content length 5497558138880 (5.0 TiB) of http://o/f needs 81920 pieces of 64.0 MiB")
                .hasMessageContaining("the largest task is 4.0 TiB");
    }

    @Test
    void aFixedLengthIsKeptWhileThePiecesFitAndTheLeastThatFitsIsNamedOtherwise() {
        assertThat(PieceLengths.forTask("http://o/f", 4L << 30, 64L << 10)).isEqualTo(64L << 10);
        assertThatThrownBy(() -> PieceLengths.forTask("http://o/f", (4L << 30) + 1, 64L << 10))
                .hasMessageContaining("65537 pieces of 64.0 KiB")
                .hasMessageContaining("to at least 128.0 KiB");
    }

    @Test
    void aStreamOfUnknownLengthEndsWhenItRunsPastTheCap() {
        PieceLengths.checkStreamed("http://o/f", PieceLengths.MAX_PIECE_COUNT - 1, 4 * MIB);
        assertThatThrownBy(() -> PieceLengths.checkStreamed("http://o/f", PieceLengths.MAX_PIECE_COUNT, 4 * MIB))
                .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.INVALID_ARGUMENT))
                .hasMessageContaining("runs past 65536 pieces of 4.0 MiB (256.0 GiB)")
                .hasMessageContaining("raise Download.piece_length (dfget --piece-length), up to 64.0 MiB");
    }
}
