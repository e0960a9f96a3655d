package dev.pollen.policy;

import java.util.BitSet;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * Which piece a child asks for next among those its caller still wants and nobody fetches yet, as
 * BitTorrent chooses: the first {@value #RANDOM_FIRST} at random, then the rarest among the child's
 * parents (held by the fewest of them), so children of the same parents soon hold different pieces and can
 * serve each other rather than all asking the same parent for the same piece. Pieces held by a parent
 * with room for another request come first; ties are broken at random. The order of fetching is free: the
 * output is written at offsets and pieces are reported in any order.
 */
public final class PieceSelector {
    /** Pieces chosen at random before rarest-first: a new child needs whole pieces to offer soon, any ones. */
    public static final int RANDOM_FIRST = 4;

    /** What one usable parent announced, and whether it may be asked for another piece now. */
    public record Holder(BitSet pieces, boolean room) {
    }

    private final RandomGenerator random;

    public PieceSelector(RandomGenerator random) {
        this.random = random;
    }

    /**
     * @param candidates the pieces that may be asked for
     * @param received how many pieces this child has from parents so far
     * @return the piece to ask for, or -1 when no parent holds any candidate (the caller picks in order and waits)
     */
    public int select(BitSet candidates, List<Holder> parents, int received) {
        boolean randomly = received < RANDOM_FIRST;
        int best = -1;
        long bestRank = Long.MAX_VALUE;
        int ties = 0;
        for (int n = candidates.nextSetBit(0); n >= 0; n = candidates.nextSetBit(n + 1)) {
            int holders = 0;
            boolean room = false;
            for (Holder h : parents) {
                if (h.pieces().get(n)) {
                    holders++;
                    room |= h.room();
                }
            }
            if (holders == 0) {
                continue;
            }
            long rank = (room ? 0 : 1L << 32) + (randomly ? 0 : holders);
            if (rank < bestRank) {
                best = n;
                bestRank = rank;
                ties = 1;
            } else if (rank == bestRank && random.nextInt(++ties) == 0) {
                // Reservoir sampling: each of the equally good pieces is chosen with the same chance.
                best = n;
            }
            if (n == Integer.MAX_VALUE) {
                break;
            }
        }
        return best;
    }
}
