package dev.pollen.agent.task;

import static org.assertj.core.api.Assertions.assertThat;

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
}
