package dev.pollen.agent.upload.vortex;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class UploadMeterTest {
    private final AtomicLong nanos = new AtomicLong(TimeUnit.SECONDS.toNanos(42));
    private final UploadMeter meter = new UploadMeter(nanos::get);

    private void seconds(double s) {
        nanos.addAndGet((long) (s * 1e9));
    }

    @Test
    void averagesTheLastWholeSecondsAndLetsOlderOnesGo() {
        meter.add(10_000_000);
        assertThat(meter.bytesPerSecond()).as("the second under way does not count yet").isZero();
        seconds(1);
        meter.add(5_000_000);
        meter.add(5_000_000);
        seconds(1);
        assertThat(meter.bytesPerSecond()).isEqualTo(20_000_000 / UploadMeter.WINDOW_SECONDS);

        seconds(UploadMeter.WINDOW_SECONDS - 1);
        assertThat(meter.bytesPerSecond()).as("second 43 only").isEqualTo(10_000_000 / UploadMeter.WINDOW_SECONDS);
        seconds(1);
        assertThat(meter.bytesPerSecond()).isZero();
    }

    @Test
    void aBucketReusedForALaterSecondStartsEmpty() {
        meter.add(1_000_000);
        seconds(UploadMeter.WINDOW_SECONDS + 1);
        meter.add(3_000_000);
        seconds(1);
        assertThat(meter.bytesPerSecond()).isEqualTo(3_000_000 / UploadMeter.WINDOW_SECONDS);
    }
}
