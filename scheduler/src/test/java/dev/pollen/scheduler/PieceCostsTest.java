package dev.pollen.scheduler;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Dragonfly's slow-parent rule (scheduler/scheduling/evaluator/evaluator.go, IsBadParent). */
class PieceCostsTest {
    @Test
    void fewerThanTwoSamplesAreNeverSlow() {
        PieceCosts costs = new PieceCosts();
        assertThat(costs.lastIsSlow()).isFalse();
        costs.add(1_000_000_000L);
        assertThat(costs.lastIsSlow()).isFalse();
    }

    @Test
    void beforeTheWindowFillsTheLastIsSlowAboveTwentyTimesTheMeanOfTheOthers() {
        PieceCosts costs = new PieceCosts();
        costs.add(10);
        costs.add(20);
        costs.add(300); // mean of the others 15: 300 is exactly 20 times, not above
        assertThat(costs.lastIsSlow()).isFalse();
        costs.add(10_000);
        assertThat(costs.lastIsSlow()).isTrue();
    }

    @Test
    void withAFullWindowTheLastIsSlowAboveTheMeanPlusThreeDeviations() {
        PieceCosts costs = new PieceCosts();
        for (int i = 0; i < PieceCosts.WINDOW * 3; i++) {
            costs.add(i % 2 == 0 ? 90 : 110); // mean ~100, deviation ~10
        }
        costs.add(125);
        assertThat(costs.lastIsSlow()).isFalse();
        costs.add(140);
        assertThat(costs.lastIsSlow()).isTrue();
    }
}
