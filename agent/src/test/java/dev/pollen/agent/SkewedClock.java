package dev.pollen.agent;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;

/** The system's time plus a skew the test adds to, so that TTLs can pass without waiting for them. */
public final class SkewedClock extends Clock {
    private volatile Duration skew = Duration.ZERO;

    public void skip(Duration d) {
        skew = skew.plus(d);
    }

    @Override
    public Instant instant() {
        return Instant.now().plus(skew);
    }

    @Override
    public ZoneId getZone() {
        return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
        return this;
    }
}
