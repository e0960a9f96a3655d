package dev.pollen.simulator;

/** One piece request and, once a slot takes it, its transfer from {@code src}'s uplink to {@code dst}'s downlink. */
final class Flow {
    enum State { REQUESTED, QUEUED, ACTIVE, DONE, CANCELLED }

    final SimNode src;
    final SimNode dst;
    /** Null when {@code src} is the origin. */
    final ParentLink link;
    final int piece;
    final double size;
    final double requestedAt;
    State state = State.REQUESTED;
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

    void advance(double now) {
        remaining -= rate * (now - lastUpdate);
        lastUpdate = now;
    }
}
