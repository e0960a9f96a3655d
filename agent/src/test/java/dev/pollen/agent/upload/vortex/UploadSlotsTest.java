package dev.pollen.agent.upload.vortex;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class UploadSlotsTest {
    private final List<String> ran = new ArrayList<>();

    @Test
    void grantsUpToTheLimitAtOnceAndHandsFreedSlotsToWaitersInArrivalOrder() {
        UploadSlots slots = new UploadSlots(2);
        slots.acquire(() -> ran.add("a"));
        slots.acquire(() -> ran.add("b"));
        slots.acquire(() -> ran.add("c"));
        slots.acquire(() -> ran.add("d"));
        assertThat(ran).containsExactly("a", "b");
        assertThat(slots.inUse()).isEqualTo(2);
        assertThat(slots.waiting()).isEqualTo(2);

        slots.release();
        assertThat(ran).containsExactly("a", "b", "c");
        assertThat(slots.inUse()).isEqualTo(2);
        slots.release();
        slots.release();
        slots.release();
        assertThat(ran).containsExactly("a", "b", "c", "d");
        assertThat(slots.inUse()).isZero();
        assertThat(slots.waiting()).isZero();
    }

    @Test
    void zeroMeansNoCap() {
        UploadSlots slots = new UploadSlots(0);
        for (int i = 0; i < 1000; i++) {
            slots.acquire(() -> ran.add("x"));
        }
        assertThat(ran).hasSize(1000);
        assertThat(slots.waiting()).isZero();
    }

    @Test
    void aNegativeLimitNamesTheKey() {
        assertThatThrownBy(() -> new UploadSlots(-1)).hasMessageContaining("upload.concurrentPieceLimit: -1");
    }
}
