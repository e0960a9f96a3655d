package dev.pollen.simulator;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;

/** The scheduler's clock: the simulation's virtual time, seconds since the start, on a fixed epoch. */
final class VirtualClock extends Clock {
    private static final Instant EPOCH = Instant.parse("2026-01-01T00:00:00Z");
    private double seconds;

    void set(double now) {
        seconds = now;
    }

    @Override
    public ZoneId getZone() {
        return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
        return this;
    }

    @Override
    public Instant instant() {
        return EPOCH.plusNanos(Math.round(seconds * 1e9));
    }

    @Override
    public long millis() {
        return EPOCH.toEpochMilli() + Math.round(seconds * 1e3);
    }
}
