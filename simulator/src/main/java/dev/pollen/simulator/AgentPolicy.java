package dev.pollen.simulator;

import java.util.Random;

/**
 * The agent's piece-selection and upload-slot policy: which piece a download asks for next and of which parent, how
 * many uploads a node runs at once, and how it treats slow or fruitless parents. The agent has no shared pure-policy
 * class yet, so {@link AgentPolicies} models today's agent ({@code current}: agent/.../peer/ParentSet, Downloader)
 * and issue 9's target ({@code swarm}); a shared class from the agent plugs in as another implementation of this
 * interface.
 */
interface AgentPolicy {
    /** A request to make: {@code piece} from {@code parent}. */
    record Choice(int piece, ParentLink parent) {
    }

    String name();

    /** Pieces one download fetches at once (download.concurrentPieceCount). */
    int concurrentPieces();

    /** Uploads a node runs at once; further requests queue in arrival order. */
    int uploadSlots(double upBytesPerSecond);

    /** The next request of {@code child}, or null to wait for its parents to announce more. */
    Choice choose(SimNode child, int pieceCount, Random random);

    /** Whether a piece that takes far longer than the recent median is given up and its parent dropped as slow. */
    boolean slowParentTimeouts();

    /** Whether, after a reschedule names no new parent, the pieces that were waiting go to the origin. */
    boolean stalledPiecesToOrigin();
}
