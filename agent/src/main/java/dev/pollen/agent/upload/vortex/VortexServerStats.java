package dev.pollen.agent.upload.vortex;

import dev.pollen.policy.UploadSlots;
import java.util.concurrent.atomic.LongAdder;

/**
 * What the Vortex server did, as counters: refusals and protocol violations happen on a hot path that a
 * hostile peer controls, so they are counted here rather than logged one by one.
 */
public final class VortexServerStats {
    private final LongAdder piecesServed = new LongAdder();
    private final LongAdder bytesServed = new LongAdder();
    private final LongAdder refusals = new LongAdder();
    private final LongAdder protocolViolations = new LongAdder();
    private final LongAdder busyAnswers = new LongAdder();
    private final UploadSlots slots;
    private final UploadMeter meter;

    VortexServerStats(UploadSlots slots, UploadMeter meter) {
        this.slots = slots;
        this.meter = meter;
    }

    void served(long bytes) {
        piecesServed.increment();
        bytesServed.add(bytes);
        meter.add(bytes);
    }

    void busy() {
        busyAnswers.increment();
    }

    void refused() {
        refusals.increment();
    }

    void violation() {
        protocolViolations.increment();
    }

    public long piecesServed() {
        return piecesServed.sum();
    }

    public long bytesServed() {
        return bytesServed.sum();
    }

    /** Well-framed requests answered with an Error frame (unknown task, missing piece, bad id, busy). */
    public long refusals() {
        return refusals.sum();
    }

    /** Connections closed because their bytes broke the framing (unknown tag, oversized length, ...). */
    public long protocolViolations() {
        return protocolViolations.sum();
    }

    /** Requests answered BUSY: no upload slot came free within {@code upload.slotWait}, or the line was full. */
    public long busyAnswers() {
        return busyAnswers.sum();
    }

    /** Upload slots: pieces sent at once at most; 0: no cap. */
    public int slots() {
        return slots.limit();
    }

    /** Piece bytes uploaded per second, over the last few seconds. */
    public long bytesPerSecond() {
        return meter.bytesPerSecond();
    }

    /** Pieces being sent right now. */
    public int uploading() {
        return slots.inUse();
    }

    /** Requests waiting for an upload slot (every upload slot is taken). */
    public int waiting() {
        return slots.waiting();
    }
}
