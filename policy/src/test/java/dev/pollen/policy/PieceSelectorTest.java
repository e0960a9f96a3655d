package dev.pollen.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.BitSet;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The order a child asks its parents for pieces in (before: always the lowest number first). */
class PieceSelectorTest {
    private static BitSet pieces(int... numbers) {
        BitSet b = new BitSet();
        for (int n : numbers) {
            b.set(n);
        }
        return b;
    }

    private static BitSet range(int from, int to) {
        BitSet b = new BitSet();
        b.set(from, to);
        return b;
    }

    @Test
    void afterTheFirstPiecesTheRarestAmongTheParentsComesFirst() {
        // Piece 5 is held by one parent only; 0..4 and 6..9 by all three.
        List<PieceSelector.Holder> parents = List.of(
                new PieceSelector.Holder(range(0, 10), true),
                new PieceSelector.Holder(pieces(0, 1, 2, 3, 4, 6, 7, 8, 9), true),
                new PieceSelector.Holder(pieces(0, 1, 2, 3, 4, 6, 7, 8, 9), true));
        PieceSelector selector = new PieceSelector(new Random(1));
        assertThat(selector.select(range(0, 10), parents, PieceSelector.RANDOM_FIRST)).isEqualTo(5);
    }

    @Test
    void equallyRarePiecesAreChosenAtRandomNotInOrder() {
        List<PieceSelector.Holder> parents = List.of(new PieceSelector.Holder(range(0, 64), true));
        PieceSelector selector = new PieceSelector(new Random(7));
        Set<Integer> chosen = new HashSet<>();
        for (int i = 0; i < 50; i++) {
            chosen.add(selector.select(range(0, 64), parents, PieceSelector.RANDOM_FIRST + i));
        }
        assertThat(chosen).hasSizeGreaterThan(20);
    }

    @Test
    void theFirstPiecesAreRandomEvenWhereRarityWouldDecide() {
        // Piece 0 is the rarest; a new child still starts anywhere, so new children do not all ask for it.
        List<PieceSelector.Holder> parents = List.of(
                new PieceSelector.Holder(range(0, 32), true),
                new PieceSelector.Holder(range(1, 32), true));
        Set<Integer> firsts = new HashSet<>();
        for (int seed = 0; seed < 20; seed++) {
            firsts.add(new PieceSelector(new Random(seed)).select(range(0, 32), parents, 0));
        }
        assertThat(firsts).hasSizeGreaterThan(5);
        assertThat(new PieceSelector(new Random(3)).select(range(0, 32), parents, PieceSelector.RANDOM_FIRST)).isZero();
    }

    @Test
    void aPieceAParentWithRoomHoldsComesBeforeARarerOneOnlyAFullParentHolds() {
        List<PieceSelector.Holder> parents = List.of(
                new PieceSelector.Holder(pieces(3), false),
                new PieceSelector.Holder(pieces(7), true),
                new PieceSelector.Holder(pieces(7), true));
        assertThat(new PieceSelector(new Random(1)).select(pieces(3, 7), parents, 10)).isEqualTo(7);
    }

    @Test
    void onlyCandidatesAParentHoldsAreChosen() {
        List<PieceSelector.Holder> parents = List.of(new PieceSelector.Holder(pieces(2, 4), true));
        PieceSelector selector = new PieceSelector(new Random(1));
        assertThat(selector.select(pieces(1, 3, 4), parents, 10)).isEqualTo(4);
        assertThat(selector.select(pieces(1, 3), parents, 10)).isEqualTo(-1);
        assertThat(selector.select(pieces(1, 3), List.of(), 0)).isEqualTo(-1);
    }
}
