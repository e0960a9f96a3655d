package dev.pollen.agent.upload.vortex;

import dev.pollen.policy.UploadSlots;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/** Counters of a Vortex server, for code that reports them. */
public final class TestStats {
    private TestStats() {
    }

    /** A server that serves nothing. */
    public static VortexServerStats idle() {
        return new VortexServerStats(new UploadSlots(1), new UploadMeter(System::nanoTime));
    }

    /**
     * A server with {@code slots} upload slots, {@code uploading} pieces being sent now, {@code waiting} requests
     * in line for a slot, that sent {@code bytesPerSecond} steadily over the last few seconds.
     */
    public static VortexServerStats busy(int slots, int uploading, int waiting, long bytesPerSecond) {
        AtomicLong nanos = new AtomicLong(TimeUnit.SECONDS.toNanos(1000));
        UploadMeter meter = new UploadMeter(nanos::get);
        for (int s = 0; s < UploadMeter.WINDOW_SECONDS; s++) {
            meter.add(bytesPerSecond);
            nanos.addAndGet(TimeUnit.SECONDS.toNanos(1));
        }
        UploadSlots upload = new UploadSlots(slots);
        for (int i = 0; i < uploading + waiting; i++) {
            upload.acquire(new UploadSlots.Request("child-" + i, () -> { }));
        }
        return new VortexServerStats(upload, meter);
    }
}
