package dev.pollen.scheduler.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class SchedulerRingTest {
    private static final List<String> THREE = List.of("10.0.0.1:8002", "10.0.0.2:8002", "10.0.0.3:8002");

    private static List<String> taskIds(int n) {
        return IntStream.range(0, n).mapToObj(i -> String.format("%064x", i * 7919L)).toList();
    }

    @Test
    void everyNodeSendsATaskToTheSameScheduler() {
        SchedulerRing a = new SchedulerRing(THREE);
        SchedulerRing b = new SchedulerRing(List.of(THREE.get(2), THREE.get(0), THREE.get(1)));
        for (String id : taskIds(500)) {
            assertThat(a.owner(id)).isEqualTo(b.owner(id));
        }
    }

    @Test
    void sharesTasksRoughlyEvenly() {
        SchedulerRing ring = new SchedulerRing(THREE);
        Map<String, Integer> counts = new HashMap<>();
        taskIds(3000).forEach(id -> counts.merge(ring.owner(id), 1, Integer::sum));
        assertThat(counts).hasSize(3);
        counts.values().forEach(c -> assertThat(c).isBetween(700, 1300));
    }

    @Test
    void aDownSchedulerHandsItsTasksToTheNextAndOnlyThose() {
        SchedulerRing ring = new SchedulerRing(THREE);
        String down = THREE.get(1);
        for (String id : taskIds(500)) {
            String owner = ring.owner(id);
            String failover = ring.owner(id, address -> !address.equals(down));
            if (owner.equals(down)) {
                assertThat(failover).isEqualTo(ring.candidates(id).get(1));
            } else {
                assertThat(failover).isEqualTo(owner);
            }
        }
    }

    @Test
    void noUsableSchedulerGivesNull() {
        assertThat(new SchedulerRing(THREE).owner("x", address -> false)).isNull();
    }

    @Test
    void candidatesListEverySchedulerOnce() {
        assertThat(new SchedulerRing(THREE).candidates("abc")).containsExactlyInAnyOrderElementsOf(THREE);
    }

    @Test
    void refusesAnEmptyList() {
        assertThatThrownBy(() -> new SchedulerRing(List.of())).isInstanceOf(IllegalArgumentException.class);
    }
}
