package dev.pollen.policy;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** When a child asks for more parents: too few usable ones, or parents that hold nothing it lacks. */
class ParentRefreshTest {
    private static final long STARVED = ParentRefresh.STARVED.toNanos();

    @Test
    void aChildWhoseParentsHoldNothingItLacksAsksOnceStarvedForLongEnoughHoweverManyParentsItHas() {
        assertThat(ParentRefresh.wantsMore(ParentRefresh.ENOUGH_PARENTS)).isFalse();
        assertThat(ParentRefresh.starved(0)).isFalse();
        assertThat(ParentRefresh.starved(STARVED - 1)).isFalse();
        assertThat(ParentRefresh.starved(STARVED)).isTrue();
    }

    @Test
    void starvationIsJudgedWithinASecondNotAfterTheStall() {
        assertThat(ParentRefresh.STARVED).isLessThan(ParentRefresh.STALL).isLessThanOrEqualTo(java.time.Duration.ofSeconds(1));
    }

    @Test
    void aChildWithFewerThanEnoughUsableParentsAsksAtItsRefresh() {
        assertThat(ParentRefresh.wantsMore(ParentRefresh.ENOUGH_PARENTS - 1)).isTrue();
    }

    @Test
    void aChildWhoseParentsAnswerBusyOftenAsksForMoreAtItsRefresh() {
        long interval = ParentRefresh.INTERVAL.toNanos();
        assertThat(ParentRefresh.crowded(ParentRefresh.CROWDED - 1, interval)).isFalse();
        assertThat(ParentRefresh.crowded(ParentRefresh.CROWDED, interval)).isTrue();
        assertThat(ParentRefresh.crowded(ParentRefresh.CROWDED, 2 * interval)).as("a rate, not a total").isFalse();
        assertThat(ParentRefresh.crowded(0, 0)).isFalse();
    }
}
