package dev.pollen.agent.mirror;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ByteRangesTest {
    @Test
    void singleRangesAreServedExactly() {
        assertThat(ByteRanges.parse("bytes=10-", 100)).isEqualTo(new ByteRanges.Partial(10, 99));
        assertThat(ByteRanges.parse("bytes=10-19", 100)).isEqualTo(new ByteRanges.Partial(10, 19));
        assertThat(ByteRanges.parse("bytes=90-500", 100)).isEqualTo(new ByteRanges.Partial(90, 99));
        assertThat(ByteRanges.parse("bytes=-5", 100)).isEqualTo(new ByteRanges.Partial(95, 99));
        assertThat(new ByteRanges.Partial(10, 19).contentRange(100)).isEqualTo("bytes 10-19/100");
    }

    @Test
    void aStartPastTheEndIsUnsatisfiable() {
        assertThat(ByteRanges.parse("bytes=100-", 100)).isInstanceOf(ByteRanges.Unsatisfiable.class);
        assertThat(ByteRanges.parse("bytes=100-200", 100)).isInstanceOf(ByteRanges.Unsatisfiable.class);
        assertThat(ByteRanges.parse("bytes=99999999999999999999-", 100)).isInstanceOf(ByteRanges.Unsatisfiable.class);
        assertThat(ByteRanges.parse("bytes=0-", 0)).isInstanceOf(ByteRanges.Unsatisfiable.class);
        assertThat(ByteRanges.Unsatisfiable.contentRange(100)).isEqualTo("bytes */100");
    }

    @Test
    void whatIsNotOneByteRangeIsIgnored() {
        assertThat(ByteRanges.parse(null, 100)).isInstanceOf(ByteRanges.Whole.class);
        assertThat(ByteRanges.parse("bytes=0-1,5-6", 100)).isInstanceOf(ByteRanges.Whole.class);
        assertThat(ByteRanges.parse("items=0-1", 100)).isInstanceOf(ByteRanges.Whole.class);
        assertThat(ByteRanges.parse("bytes=5-1", 100)).isInstanceOf(ByteRanges.Whole.class);
        assertThat(ByteRanges.parse("bytes=-", 100)).isInstanceOf(ByteRanges.Whole.class);
    }
}
