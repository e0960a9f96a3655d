package dev.pollen.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Super-seeding's decisions: each fresh piece goes at once to one child (a different one each time, among
 * those that want it) and to the others once that child has had it for the relay, or after the hold; pieces
 * that are not fresh go to everyone at once.
 */
class SuperSeedingTest {
    private static final String TASK = "t";
    private static final Duration HOLD = Duration.ofSeconds(5);
    private static final long RELAY = SuperSeeding.RELAY.toNanos();

    private final AtomicLong now = new AtomicLong(1_000_000_000L);
    private final SuperSeeding seeding = new SuperSeeding(HOLD, now::get);

    /** A child that wants every piece except those it was told of already. */
    private static final class Child implements SuperSeeding.Follower {
        final BitSet has = new BitSet();

        @Override
        public boolean wants(int piece) {
            return !has.get(piece);
        }
    }

    private List<Child> children(int n) {
        List<Child> children = java.util.stream.IntStream.range(0, n).mapToObj(i -> new Child()).toList();
        children.forEach(c -> seeding.join(TASK, c));
        return children;
    }

    /** Which children hear of the piece at once when it lands (each stream asks, in join order). */
    private List<Child> toldAtOnce(List<Child> children, int piece) {
        return children.stream().filter(c -> seeding.delayNanos(TASK, c, piece, true) == 0).toList();
    }

    @Test
    void eachFreshPieceGoesAtOnceToOneChildInTurn() {
        List<Child> children = children(3);

        assertThat(toldAtOnce(children, 0)).containsExactly(children.get(0));
        assertThat(toldAtOnce(children, 1)).containsExactly(children.get(1));
        assertThat(toldAtOnce(children, 2)).containsExactly(children.get(2));
        assertThat(toldAtOnce(children, 3)).containsExactly(children.get(0));
    }

    @Test
    void withMoreChildrenThanTheSeedsUplinkIsScarceForEveryFreshPieceGoesToAllAtOnce() {
        List<Child> children = children(SuperSeeding.MAX_CHILDREN + 1);

        assertThat(toldAtOnce(children, 0)).containsExactlyElementsOf(children);
    }

    @Test
    void atTheLimitOfChildrenFreshPiecesStillGoToOneChildFirst() {
        List<Child> children = children(SuperSeeding.MAX_CHILDREN);

        assertThat(toldAtOnce(children, 0)).containsExactly(children.get(0));
    }

    @Test
    void theOthersHearOfItOnceTheFirstChildHasHadItForTheRelay() {
        List<Child> children = children(2);
        assertThat(seeding.delayNanos(TASK, children.get(0), 7, true)).isZero();
        // Not sent yet: the others ask again after one relay.
        assertThat(seeding.delayNanos(TASK, children.get(1), 7, true)).isEqualTo(RELAY);

        now.addAndGet(RELAY / 2);
        seeding.sent(TASK, 7);
        assertThat(seeding.delayNanos(TASK, children.get(1), 7, false)).isEqualTo(RELAY);

        now.addAndGet(RELAY);
        assertThat(seeding.delayNanos(TASK, children.get(1), 7, false)).isZero();
    }

    @Test
    void aPieceTheFirstChildNeverFetchedGoesToTheOthersAfterTheHold() {
        List<Child> children = children(2);
        toldAtOnce(children, 3);

        now.addAndGet(HOLD.toNanos() - RELAY / 4);
        assertThat(seeding.delayNanos(TASK, children.get(1), 3, false)).isEqualTo(RELAY / 4);

        now.addAndGet(RELAY / 4);
        assertThat(seeding.delayNanos(TASK, children.get(1), 3, false)).isZero();
    }

    @Test
    void aSendOfAPieceThatIsNotFreshChangesNothing() {
        List<Child> children = children(2);
        seeding.sent(TASK, 4);
        seeding.sent("other", 4);

        assertThat(toldAtOnce(children, 4)).containsExactly(children.get(0));
    }

    @Test
    void aPieceGoesFirstToAChildThatStillWantsIt() {
        List<Child> children = children(3);
        children.get(0).has.set(5);
        children.get(1).has.set(5);

        assertThat(toldAtOnce(children, 5)).containsExactly(children.get(2));
    }

    @Test
    void piecesStoredBeforeTheyWereFreshGoToEveryoneAtOnce() {
        List<Child> children = children(3);

        for (Child c : children) {
            assertThat(seeding.delayNanos(TASK, c, 9, false)).isZero();
        }
    }

    @Test
    void aNewChildHearsOfFreshPiecesAfterTheHoldAndOfOldOnesAtOnce() {
        List<Child> children = children(2);
        toldAtOnce(children, 0);
        now.addAndGet(HOLD.toNanos() + 1);
        toldAtOnce(children, 1);

        Child late = new Child();
        seeding.join(TASK, late);

        assertThat(seeding.delayNanos(TASK, late, 0, false)).isZero();
        assertThat(seeding.delayNanos(TASK, late, 1, false)).isEqualTo(RELAY);
    }

    @Test
    void aLoneChildIsNeverHeldBack() {
        Child only = children(1).getFirst();

        assertThat(seeding.delayNanos(TASK, only, 0, true)).isZero();
    }

    @Test
    void offHoldsNobodyBack() {
        Child a = new Child();
        Child b = new Child();
        SuperSeeding.OFF.join(TASK, a);
        SuperSeeding.OFF.join(TASK, b);

        assertThat(SuperSeeding.OFF.delayNanos(TASK, a, 0, true)).isZero();
        assertThat(SuperSeeding.OFF.delayNanos(TASK, b, 0, true)).isZero();
    }

    @Test
    void aTaskWhoseChildrenLeftIsForgotten() {
        List<Child> children = children(2);
        toldAtOnce(children, 0);
        children.forEach(c -> seeding.leave(TASK, c));
        List<Child> again = children(2);

        assertThat(toldAtOnce(again, 0)).containsExactly(again.get(0));
    }
}
