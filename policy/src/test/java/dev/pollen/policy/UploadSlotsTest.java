package dev.pollen.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pollen.policy.UploadSlots.Admission;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class UploadSlotsTest {
    private final List<String> ran = new ArrayList<>();

    private UploadSlots.Request request(String child, String name) {
        return new UploadSlots.Request(child, () -> ran.add(name));
    }

    @Test
    void grantsUpToTheLimitAtOnceAndHandsFreedSlotsOnInArrivalOrderForOneChild() {
        UploadSlots slots = new UploadSlots(2);
        assertThat(slots.acquire(request("a", "a1"))).isEqualTo(Admission.GRANTED);
        assertThat(slots.acquire(request("a", "a2"))).isEqualTo(Admission.GRANTED);
        assertThat(slots.acquire(request("a", "a3"))).isEqualTo(Admission.WAITING);
        assertThat(slots.acquire(request("a", "a4"))).isEqualTo(Admission.WAITING);
        assertThat(ran).containsExactly("a1", "a2");
        assertThat(slots.inUse()).isEqualTo(2);
        assertThat(slots.waiting()).isEqualTo(2);

        slots.release("a");
        assertThat(ran).containsExactly("a1", "a2", "a3");
        assertThat(slots.inUse()).isEqualTo(2);
        slots.release("a");
        slots.release("a");
        slots.release("a");
        assertThat(ran).containsExactly("a1", "a2", "a3", "a4");
        assertThat(slots.inUse()).isZero();
        assertThat(slots.waiting()).isZero();
    }

    @Test
    void aRequestBeyondTheSlotsAndTheirShortLineIsTurnedAwayAtOnce() {
        UploadSlots slots = new UploadSlots(2);
        int admitted = 2 + UploadSlots.WAITING_PER_SLOT * 2;
        for (int i = 0; i < admitted; i++) {
            assertThat(slots.acquire(request("c" + i, "r" + i))).isNotEqualTo(Admission.FULL);
        }
        assertThat(slots.acquire(request("late", "late"))).isEqualTo(Admission.FULL);
        assertThat(ran).doesNotContain("late");
        assertThat(slots.waiting()).isEqualTo(admitted - 2);
    }

    @Test
    void aFreedSlotGoesToTheWaitingChildHoldingFewestSoOneChildCannotKeepAnotherOut() {
        UploadSlots slots = new UploadSlots(2);
        for (int i = 1; i <= 5; i++) {
            slots.acquire(request("a", "a" + i));
        }
        slots.acquire(request("b", "b1"));
        slots.acquire(request("b", "b2"));
        assertThat(ran).containsExactly("a1", "a2");

        slots.release("a"); // a holds 1, b 0: b's turn, though a's requests came first
        assertThat(ran).containsExactly("a1", "a2", "b1");
        slots.release("a"); // a holds 0, b 1: a's turn
        assertThat(ran).containsExactly("a1", "a2", "b1", "a3");
        slots.release("b"); // a holds 1, b 0: b again
        assertThat(ran).containsExactly("a1", "a2", "b1", "a3", "b2");
        slots.release("a");
        assertThat(ran).containsExactly("a1", "a2", "b1", "a3", "b2", "a4");
    }

    @Test
    void betweenChildrenHoldingAsManyTheOneThatAskedFirstGoesFirst() {
        UploadSlots slots = new UploadSlots(2);
        slots.acquire(request("a", "a1"));
        slots.acquire(request("b", "b1"));
        slots.acquire(request("b", "b2"));
        slots.acquire(request("a", "a2"));
        slots.acquire(request("c", "c1"));
        slots.release("a"); // a 0, b 1, c 0: a and c hold as few, and a2 asked before c1
        assertThat(ran).containsExactly("a1", "b1", "a2");
        slots.release("b"); // a 1, b 0, c 0: b2 asked before c1
        assertThat(ran).containsExactly("a1", "b1", "a2", "b2");
        slots.release("a");
        assertThat(ran).containsExactly("a1", "b1", "a2", "b2", "c1");
    }

    @Test
    void aWithdrawnRequestIsNeverGrantedAndOneAlreadyGrantedCannotBeWithdrawn() {
        UploadSlots slots = new UploadSlots(1);
        UploadSlots.Request first = request("a", "first");
        UploadSlots.Request second = request("b", "second");
        UploadSlots.Request third = request("c", "third");
        slots.acquire(first);
        slots.acquire(second);
        slots.acquire(third);

        assertThat(slots.withdraw(second)).isTrue();
        assertThat(slots.withdraw(second)).isFalse();
        slots.release("a");
        assertThat(ran).containsExactly("first", "third");
        assertThat(slots.withdraw(third)).as("granted already").isFalse();
        assertThat(slots.withdraw(first)).isFalse();
        assertThat(slots.waiting()).isZero();
        assertThat(slots.inUse()).isEqualTo(1);
    }

    @Test
    void zeroMeansNoCap() {
        UploadSlots slots = new UploadSlots(0);
        for (int i = 0; i < 1000; i++) {
            assertThat(slots.acquire(request("a", "x"))).isEqualTo(Admission.GRANTED);
        }
        assertThat(ran).hasSize(1000);
        assertThat(slots.waiting()).isZero();
    }

    @Test
    void aNegativeLimitNamesTheKey() {
        assertThatThrownBy(() -> new UploadSlots(-1)).hasMessageContaining("upload.concurrentPieceLimit: -1");
    }

    @Test
    void theSlotsFollowTheUplinkOnePer125MbitWithinBounds() {
        assertThat(UploadSlots.forCapacity(0)).as("unknown: a 1 Gbit/s link's").isEqualTo(8);
        assertThat(UploadSlots.forCapacity(1_000_000_000L)).isEqualTo(8);
        assertThat(UploadSlots.forCapacity(400_000_000L)).isEqualTo(3);
        assertThat(UploadSlots.forCapacity(100_000_000L)).isEqualTo(UploadSlots.MIN_SLOTS);
        assertThat(UploadSlots.forCapacity(100_000_000_000L)).isEqualTo(UploadSlots.MAX_SLOTS);
    }

    private UploadSlots.Request piece(String child, int piece, String name) {
        return new UploadSlots.Request(child, "task", piece, () -> ran.add(name), () -> ran.add(name + " turned away"));
    }

    @Test
    void aFreedSlotGoesToTheRequestForThePieceSentFewestTimesBeforeAnEarlierOne() {
        UploadSlots slots = new UploadSlots(1);
        assertThat(slots.acquire(piece("a", 0, "a0"))).isEqualTo(Admission.GRANTED);
        assertThat(slots.acquire(piece("b", 0, "b0"))).isEqualTo(Admission.WAITING);
        assertThat(slots.acquire(piece("c", 1, "c1"))).isEqualTo(Admission.WAITING);
        assertThat(slots.acquire(new UploadSlots.Request("d", "other task", 0, () -> ran.add("d0 of the other task"), () -> { })))
                .isEqualTo(Admission.WAITING);

        slots.release("a");
        slots.release("c");
        assertThat(ran).as("piece 0 of this task went out once already: the others first, in arrival order")
                .containsExactly("a0", "c1", "d0 of the other task");
        slots.release("d");
        assertThat(ran).endsWith("b0");
    }

    @Test
    void aFullLineTurnsAwayItsRequestForThePieceSentMostForAPieceSentLess() {
        UploadSlots slots = new UploadSlots(1);
        slots.acquire(piece("a", 0, "a0"));
        slots.release("a");
        slots.acquire(piece("a", 0, "a0 again"));
        slots.acquire(piece("b", 0, "b0"));
        for (int i = 1; i < UploadSlots.WAITING_PER_SLOT; i++) {
            assertThat(slots.acquire(piece("c" + i, 1, "c" + i))).isEqualTo(Admission.WAITING);
        }
        assertThat(slots.acquire(piece("late", 1, "late1"))).as("piece 1 was never sent: it takes piece 0's place")
                .isEqualTo(Admission.WAITING);
        assertThat(ran).containsExactly("a0", "a0 again", "b0 turned away");
        assertThat(slots.acquire(piece("later", 1, "later1"))).as("nobody in line has a piece sent more often")
                .isEqualTo(Admission.FULL);
        assertThat(slots.waiting()).isEqualTo(UploadSlots.WAITING_PER_SLOT);
    }
}
