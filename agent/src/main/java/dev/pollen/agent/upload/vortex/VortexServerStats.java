package dev.pollen.agent.upload.vortex;

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
    private final UploadSlots slots;

    VortexServerStats(UploadSlots slots) {
        this.slots = slots;
    }

    void served(long bytes) {
        piecesServed.increment();
        bytesServed.add(bytes);
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

    /** Well-framed requests answered with an Error frame (unknown task, missing piece, bad id). */
    public long refusals() {
        return refusals.sum();
    }

    /** Connections closed because their bytes broke the framing (unknown tag, oversized length, ...). */
    public long protocolViolations() {
        return protocolViolations.sum();
    }

    /** Pieces being sent right now. */
    public int uploading() {
        return slots.inUse();
    }

    /** Requests waiting for an upload slot (the node is at its {@code upload.concurrentPieceLimit}). */
    public int waiting() {
        return slots.waiting();
    }
}
