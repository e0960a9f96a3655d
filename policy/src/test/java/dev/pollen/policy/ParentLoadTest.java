package dev.pollen.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** One parent's window of requests at once, and the pace a piece from it is judged against. */
class ParentLoadTest {
    private static final long MS = TimeUnit.MILLISECONDS.toNanos(1);
    private static final long PIECE = 4 << 20;

    /**
     * Runs {@code rounds} windows in which every request the window allows starts together and all end after
     * {@code pieceMillis.applyAsLong(window)}; returns the clock.
     */
    private static long rounds(ParentLoad load, long now, int rounds, java.util.function.IntToLongFunction pieceMillis) {
        for (int r = 0; r < rounds; r++) {
            int window = load.limit();
            for (int i = 0; i < window; i++) {
                load.started(now);
            }
            long took = pieceMillis.applyAsLong(window) * MS;
            now += took;
            for (int i = 0; i < window; i++) {
                load.succeeded(PIECE, took, now);
            }
        }
        return now;
    }

    @Test
    void theWindowStartsAtTwo() {
        ParentLoad load = new ParentLoad();
        assertThat(load.limit()).isEqualTo(2);
        load.started(0);
        load.started(0);
        assertThat(load.hasRoom(0)).isFalse();
    }

    @Test
    void theWindowGrowsWhileThroughputGrowsWithIt() {
        ParentLoad load = new ParentLoad();
        // Latency-bound: a piece takes 100 ms however many run at once, so more at once deliver more.
        rounds(load, 0, 6, window -> 100);
        assertThat(load.limit()).isEqualTo(8);
    }

    @Test
    void theWindowStopsGrowingWhenThroughputDoesNot() {
        ParentLoad load = new ParentLoad();
        // Bandwidth-bound: n pieces at once take n times as long; more at once deliver nothing more.
        rounds(load, 0, 6, window -> 100L * window);
        assertThat(load.limit()).isEqualTo(3);
    }

    @Test
    void aBusyAnswerHalvesTheWindowAndPausesTheParent() {
        ParentLoad load = new ParentLoad();
        long now = rounds(load, 0, 4, window -> 100);
        assertThat(load.limit()).isEqualTo(6);
        load.started(now);
        load.busy(now, 200 * MS);
        assertThat(load.limit()).isEqualTo(3);
        assertThat(load.hasRoom(now + 100 * MS)).isFalse();
        assertThat(load.hasRoom(now + 200 * MS)).isTrue();
        // After a decrease the window probes again.
        rounds(load, now + 200 * MS, 1, window -> 100);
        assertThat(load.limit()).isEqualTo(4);
    }

    @Test
    void aBusyParentIsAskedAgainAfterTwoSlotWaits() {
        // The parent's line serves its least-sent pieces first and answers busy after upload.slotWait (50 ms): a
        // slot there frees within a piece's time, and a 200 ms pause kept its children away from it past that.
        ParentLoad load = new ParentLoad();
        load.started(0);
        load.busy(0, ParentLoad.BUSY_BACKOFF.toNanos());
        assertThat(load.hasRoom(99 * MS)).isFalse();
        assertThat(load.hasRoom(100 * MS)).isTrue();
    }

    @Test
    void theExpectationIsTheParentsOwnRecentPace() {
        ParentLoad load = new ParentLoad();
        assertThat(load.expectedNanos(PIECE)).isZero();
        rounds(load, 0, 2, window -> 2_000);
        assertThat(load.expectedNanos(PIECE)).isBetween(1_990 * MS, 2_010 * MS);
        assertThat(load.expectedNanos(PIECE / 2)).isBetween(990 * MS, 1_010 * MS);
    }

    @Test
    void aPieceIsGivenUpOnAsSlowOnlyAgainstAKnownPaceAndWhenAnotherParentHoldsIt() {
        long timeout = 60_000 * MS;
        long floor = 2_000 * MS;
        ParentLoad load = new ParentLoad();
        assertThat(load.slowLimitNanos(PIECE, true, timeout, floor)).as("no pace yet").isEqualTo(timeout);
        rounds(load, 0, 2, window -> 1_000);
        assertThat(load.slowLimitNanos(PIECE, false, timeout, floor)).as("no other holder: slow beats none").isEqualTo(timeout);
        assertThat(load.slowLimitNanos(PIECE, true, timeout, floor)).isBetween(3_990 * MS, 4_010 * MS);
        assertThat(load.slowLimitNanos(PIECE / 8, true, timeout, floor)).as("never below the floor").isEqualTo(floor);
        assertThat(load.slowLimitNanos(PIECE * 100, true, timeout, floor)).as("never past the piece timeout").isEqualTo(timeout);
    }

    @Test
    void anyPeerBeatsASeedThenTheOneThatWouldDeliverMostThenTheLessLoaded() {
        ParentLoad fresh = new ParentLoad();
        ParentLoad measured = new ParentLoad();
        rounds(measured, 0, 1, window -> 1_000);
        assertThat(measured.beats(false, fresh, true)).as("a measured peer before an unmeasured seed").isTrue();
        assertThat(fresh.beats(true, measured, false)).isFalse();
        assertThat(fresh.beats(false, measured, false)).as("an unmeasured parent scores highest: every parent is tried").isTrue();

        ParentLoad idle = new ParentLoad();
        ParentLoad busy = new ParentLoad();
        busy.started(0);
        assertThat(idle.beats(false, busy, false)).as("equal scores: fewer requests of ours").isTrue();
        assertThat(busy.beats(false, idle, false)).isFalse();
    }
}
