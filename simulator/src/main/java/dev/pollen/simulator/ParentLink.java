package dev.pollen.simulator;

/** A child's view of one parent it was given: ParentSet's ParentState. */
final class ParentLink {
    final SimNode node;
    /** This child's requests to that parent now. */
    int busy;
    /** Its SyncPieces stream broke (the parent left). */
    boolean gone;
    /** A fetch from it failed. */
    boolean failed;
    /** A piece from it took too long (the agent's slow-parent rule). */
    boolean slow;

    ParentLink(SimNode node) {
        this.node = node;
    }

    boolean usable() {
        return !gone && !failed && !slow;
    }
}
