package dev.pollen.simulator;

import java.util.BitSet;
import java.util.Random;

/** The policies a run can use, by name. */
final class AgentPolicies {
    private AgentPolicies() {
    }

    static AgentPolicy byName(String name) {
        return switch (name) {
            case "current" -> new Current();
            case "swarm" -> new Swarm();
            default -> throw new IllegalArgumentException("--policy: " + name + " (expected: current, swarm)");
        };
    }

    /**
     * Today's agent: the Downloader asks pieces in order (a window of 2 × concurrentPieceCount), ParentSet takes
     * the least busy parent that announced the piece, uploads queue behind upload.concurrentPieceLimit (64), a piece
     * taking over max(2 s, 4 × the recent median) while another parent holds it marks its parent slow, and pieces
     * still waiting after a reschedule that names nobody new go to the origin.
     */
    static final class Current implements AgentPolicy {
        private static final int CONCURRENT = 8;

        @Override
        public String name() {
            return "current";
        }

        @Override
        public int concurrentPieces() {
            return CONCURRENT;
        }

        @Override
        public int uploadSlots(double upBytesPerSecond) {
            return 64;
        }

        @Override
        public Choice choose(SimNode child, int pieceCount, Random random) {
            int p = child.taken.nextClearBit(0);
            for (int looked = 0; p < pieceCount && looked < 2 * CONCURRENT; looked++, p = child.taken.nextClearBit(p + 1)) {
                ParentLink best = null;
                for (ParentLink l : child.parents) {
                    if (l.usable() && l.node.have.get(p) && (best == null || l.busy < best.busy)) {
                        best = l;
                    }
                }
                if (best != null) {
                    return new Choice(p, best);
                }
            }
            return null;
        }

        @Override
        public boolean slowParentTimeouts() {
            return true;
        }

        @Override
        public boolean stalledPiecesToOrigin() {
            return true;
        }
    }

    /**
     * Issue 9's agent, items 2 and 3, as BitTorrent does it: the first pieces at random, then the rarest among the
     * parents' pieces (of up to 32 candidates from a random offset, to keep a decision O(1)); each piece from the
     * parent with the most spare upload slots; a bounded number of upload slots from the node's uplink (one per
     * 100 mbit, 2..16); no slow-parent drop (a busy parent is waited for) and no origin while parents exist.
     */
    static final class Swarm implements AgentPolicy {
        private static final int CONCURRENT = 8;
        private static final int RANDOM_FIRST = 4;
        private static final int CANDIDATES = 32;
        private final BitSet available = new BitSet();

        @Override
        public String name() {
            return "swarm";
        }

        @Override
        public int concurrentPieces() {
            return CONCURRENT;
        }

        @Override
        public int uploadSlots(double upBytesPerSecond) {
            return (int) Math.max(2, Math.min(16, Math.round(upBytesPerSecond / 12.5e6)));
        }

        @Override
        public Choice choose(SimNode child, int pieceCount, Random random) {
            available.clear();
            for (ParentLink l : child.parents) {
                if (l.usable()) {
                    available.or(l.node.have);
                }
            }
            available.andNot(child.taken);
            int count = available.cardinality();
            if (count == 0) {
                return null;
            }
            int start = available.nextSetBit(random.nextInt(pieceCount));
            if (start < 0) {
                start = available.nextSetBit(0);
            }
            int piece = start;
            if (child.haveCount >= RANDOM_FIRST) {
                int rarest = Integer.MAX_VALUE;
                int p = start;
                for (int seen = 0; seen < Math.min(CANDIDATES, count); seen++) {
                    int holders = 0;
                    for (ParentLink l : child.parents) {
                        if (l.usable() && l.node.have.get(p)) {
                            holders++;
                        }
                    }
                    if (holders < rarest) {
                        rarest = holders;
                        piece = p;
                    }
                    p = available.nextSetBit(p + 1);
                    if (p < 0) {
                        p = available.nextSetBit(0);
                    }
                }
            }
            ParentLink best = null;
            double bestLoad = Double.MAX_VALUE;
            for (ParentLink l : child.parents) {
                if (l.usable() && l.node.have.get(piece)) {
                    SimNode n = l.node;
                    double load = (double) (n.uploads() + n.uploadQueue.size()) / n.uploadSlots + l.busy * 1e-3;
                    if (load < bestLoad) {
                        bestLoad = load;
                        best = l;
                    }
                }
            }
            return new Choice(piece, best);
        }

        @Override
        public boolean slowParentTimeouts() {
            return false;
        }

        @Override
        public boolean stalledPiecesToOrigin() {
            return false;
        }
    }
}
