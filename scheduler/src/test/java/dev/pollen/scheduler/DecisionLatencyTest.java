package dev.pollen.scheduler;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class DecisionLatencyTest {
    @Test
    void bucketsAreContiguousAndEachValueLiesWithinItsBucketWithinSixPercent() {
        for (long v = 0; v < 5_000_000; v += 1 + v / 50) {
            int b = DecisionLatency.bucket(v);
            assertThat(DecisionLatency.upperBound(b)).as("upper bound of %d", v).isGreaterThanOrEqualTo(v);
            if (b > 0) {
                assertThat(DecisionLatency.upperBound(b - 1)).as("previous bound of %d", v).isLessThan(v);
            }
            assertThat((double) DecisionLatency.upperBound(b)).isLessThanOrEqualTo(Math.max(v + 1, v * 1.07));
        }
    }

    @Test
    void reportsPercentilesOfItsWindowAndStartsANewOneWhenRead() {
        DecisionLatency latency = new DecisionLatency();
        assertThat(latency.takeWindow()).isNull();
        for (int i = 1; i <= 100; i++) {
            latency.record(TimeUnit.MICROSECONDS.toNanos(i * 10L)); // 10 us .. 1000 us
        }
        DecisionLatency.Window w = latency.takeWindow();
        assertThat(w.decisions()).isEqualTo(100);
        assertThat(w.p50Micros()).isBetween(500L, 530L);
        assertThat(w.p99Micros()).isBetween(990L, 1000L);
        assertThat(w.maxMicros()).isEqualTo(1000);

        latency.record(TimeUnit.MICROSECONDS.toNanos(7));
        DecisionLatency.Window next = latency.takeWindow();
        assertThat(next.decisions()).isEqualTo(1);
        assertThat(next.p99Micros()).isEqualTo(7);
    }
}
