package dev.pollen.agent.peer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.agent.SkewedClock;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class SuspectParentsTest {
    private final SkewedClock clock = new SkewedClock();
    private final SuspectParents suspects = new SuspectParents(clock);

    @Test
    void theSendersOfARejectedCopyAreSuspectsForThatTaskOnly() {
        suspects.implicate("task-a", List.of("liar", "honest-maybe"));

        assertThat(suspects.of("task-a")).containsExactlyInAnyOrder("liar", "honest-maybe");
        assertThat(suspects.of("task-b")).isEmpty();
    }

    @Test
    void aSecondRejectionAddsItsSendersAndRestartsTheTime() {
        suspects.implicate("task-a", List.of("liar"));
        clock.skip(SuspectParents.TTL.minusMinutes(1));
        suspects.implicate("task-a", List.of("other"));
        clock.skip(Duration.ofMinutes(2));

        assertThat(suspects.of("task-a")).containsExactlyInAnyOrder("liar", "other");
    }

    @Test
    void suspicionEndsAfterItsTime() {
        suspects.implicate("task-a", List.of("liar"));
        clock.skip(SuspectParents.TTL);

        assertThat(suspects.of("task-a")).isEmpty();
    }

    @Test
    void aCopyFromTheOriginAloneImplicatesNobody() {
        suspects.implicate("task-a", List.of());

        assertThat(suspects.of("task-a")).isEmpty();
    }

    @Test
    void theLeastRecentlyImplicatedTasksAreForgottenFirstBeyondTheBound() {
        for (int i = 0; i <= SuspectParents.MAX_TASKS; i++) {
            suspects.implicate("task-" + i, List.of("liar"));
        }

        assertThat(suspects.of("task-0")).isEmpty();
        assertThat(suspects.of("task-1")).containsExactly("liar");
        assertThat(suspects.of("task-" + SuspectParents.MAX_TASKS)).containsExactly("liar");
    }
}
