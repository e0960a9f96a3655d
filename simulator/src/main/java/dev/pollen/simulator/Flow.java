package dev.pollen.simulator;

import dev.pollen.policy.UploadSlots;

/** One piece request and, once an upload slot takes it, its transfer from {@code src}'s uplink to {@code dst}'s downlink. */
final class Flow {
    enum State { REQUESTED, QUEUED, ACTIVE, DONE, CANCELLED }

    final SimNode src;
    final SimNode dst;
    /** Null when {@code src} is the origin. */
    final ParentLink link;
    final int piece;
    final double size;
    final double requestedAt;
    /** The request for a slot at {@code src} (the agent's VortexServerHandler makes one per piece request). */
    UploadSlots.Request slot;
    State state = State.REQUESTED;
    /** Whether this request holds one of the child's download slots (an endgame's second request does not). */
    boolean holdsSlot;
    /** The other request racing for the same piece in the endgame, or null. */
    Flow twin;
    /** A second request was started for this one (the agent races a piece once). */
    boolean raced;
    /** The child is done with this request: its download slot and its parent's window are settled. */
    boolean settled;
    double remaining;
    double rate;
    double lastUpdate;
    /** On a shared uplink: the link's service level at which this transfer is done. */
    double target;
    /** When it ends at its current rate. */
    double finishAt = Double.POSITIVE_INFINITY;

    Flow(SimNode src, SimNode dst, ParentLink link, int piece, double size, double requestedAt) {
        this.src = src;
        this.dst = dst;
        this.link = link;
        this.piece = piece;
        this.size = size;
        this.requestedAt = requestedAt;
        this.remaining = size;
    }

    boolean live() {
        return state != State.DONE && state != State.CANCELLED;
    }

    void advance(double now) {
        remaining -= rate * (now - lastUpdate);
        lastUpdate = now;
    }
}
