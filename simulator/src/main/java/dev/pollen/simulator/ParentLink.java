package dev.pollen.simulator;

import dev.pollen.policy.ParentLoad;
import dev.pollen.policy.SuperSeeding;
import java.util.BitSet;

/** A child's view of one parent it was given: ParentSet's ParentState, with the agent's own {@link ParentLoad}. */
final class ParentLink implements SuperSeeding.Follower {
    final SimNode child;
    final SimNode node;
    final ParentLoad load = new ParentLoad();
    /**
     * What the parent announced to this child, when it announces on its own schedule (a super-seeding seed); null
     * when every piece is announced as it lands there (then {@link #held} is the parent's pieces).
     */
    BitSet announced;
    /** Its SyncPieces stream broke (the parent left). */
    boolean gone;
    /** A fetch from it failed. */
    boolean failed;
    /** A piece from it took too long (ParentLoad's slow limit). */
    boolean slow;

    ParentLink(SimNode child, SimNode node) {
        this.child = child;
        this.node = node;
    }

    boolean usable() {
        return !gone && !failed && !slow;
    }

    /** The pieces this child knows the parent holds. */
    BitSet held() {
        return announced != null ? announced : node.have;
    }

    /** PieceStream.wants: the stream still lives and has not announced the piece (every piece is wanted). */
    @Override
    public boolean wants(int piece) {
        return usable() && child.state == SimNode.State.DOWNLOADING && !announced.get(piece);
    }
}
