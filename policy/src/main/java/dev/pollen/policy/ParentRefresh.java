package dev.pollen.policy;

import java.time.Duration;

/**
 * When a child asks its scheduler for more parents. A scheduler only answers (Dragonfly's protocol has no push), so
 * a child that registered when few peers held anything would otherwise keep those few for the whole download. The
 * agent follows this policy, and the simulator models the same one (it uses these values, not copies).
 */
public final class ParentRefresh {
    /** How often a child with too few parents asks again. */
    public static final Duration INTERVAL = Duration.ofSeconds(3);
    /** Usable parents from which on a child stops asking. */
    public static final int ENOUGH_PARENTS = 6;
    /**
     * When no parent announced any piece for this long, the parents are taken to be stuck (their own parent died,
     * say, and they wait like us): a piece none of them holds makes the child ask the scheduler again.
     */
    public static final Duration STALL = Duration.ofSeconds(3);

    /**
     * A child with room for a request whose usable parents announced no piece it lacks for this long asks for more
     * parents, however many it has: in a large swarm a child's few parents are often at the same point of the file
     * as the child itself, while other peers hold what it needs and have uplink to spare.
     */
    public static final Duration STARVED = Duration.ofMillis(500);

    private ParentRefresh() {
    }

    /** Whether a child whose parents have held nothing it lacks for {@code starvedNanos} asks for more now. */
    public static boolean starved(long starvedNanos) {
        return starvedNanos >= STARVED.toNanos();
    }

    /** Whether a child with this many usable parents asks for more at its next refresh. */
    public static boolean wantsMore(int usableParents) {
        return usableParents < ENOUGH_PARENTS;
    }
}
