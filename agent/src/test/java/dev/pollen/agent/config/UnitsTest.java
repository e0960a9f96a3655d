package dev.pollen.agent.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class UnitsTest {
    @Test
    void parsesHumanDurations() {
        assertThat(Durations.parse("500ms")).isEqualTo(Duration.ofMillis(500));
        assertThat(Durations.parse("1h30m")).isEqualTo(Duration.ofMinutes(90));
        assertThat(Durations.parse("7d")).isEqualTo(Duration.ofDays(7));
        assertThatThrownBy(() -> Durations.parse("10")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Durations.parse("1x")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Durations.parse("s1")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void parsesSizesInBinaryAndDecimalUnits() {
        assertThat(ByteSize.parse("4MiB").bytes()).isEqualTo(4L << 20);
        assertThat(ByteSize.parse("10GB").bytes()).isEqualTo(10_000_000_000L);
        assertThat(ByteSize.parse("123").bytes()).isEqualTo(123);
        assertThatThrownBy(() -> ByteSize.parse("lots")).isInstanceOf(IllegalArgumentException.class);
        assertThat(ByteSize.human(1536)).isEqualTo("1.5 KiB");
    }
}
