package dev.pollen.policy;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class EndgameTest {
    @Test
    void racesOnlyWhenEveryMissingPieceIsInFlightAndTheyAreFew() {
        assertThat(Endgame.on(4, 4)).isTrue();
        assertThat(Endgame.on(1, 1)).isTrue();
        assertThat(Endgame.on(3, 4)).as("a missing piece nobody fetches yet").isFalse();
        assertThat(Endgame.on(5, 5)).as("more than " + Endgame.PIECES + " in flight").isFalse();
        assertThat(Endgame.on(0, 0)).as("nothing in flight").isFalse();
    }
}
