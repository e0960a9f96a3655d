package dev.pollen.scheduler;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The in-process facade a simulator drives: plain values in, the cluster's decisions out. */
class SchedulingCoreTest {
    private static final String TASK = "f".repeat(64);
    private static final long MIB = 1024 * 1024;

    private final MutableClock clock = new MutableClock();
    private final SchedulingCore core = new SchedulingCore(clock, SchedulingConfig.defaults(), new SplittableRandom(1));

    @Test
    void aSwarmWithASeedGoesToTheOriginOnceAndSpreadsOverThePeers() {
        core.announceHost(SchedulingCore.HostInfo.of("seed", true, 400_000_000L));
        core.announceHost(SchedulingCore.HostInfo.of("a", false, 400_000_000L));
        core.announceHost(SchedulingCore.HostInfo.of("b", false, 400_000_000L));
        assertThat(core.register("a", TASK, "pa", 40 * MIB, 4 * MIB)).isEqualTo(new SchedulingCore.Decision.Held("seed"));
        assertThat(core.pollHeld("pa")).isNull();
        assertThat(core.register("seed", TASK, "ps", 40 * MIB, 4 * MIB)).isInstanceOf(SchedulingCore.Decision.BackToSource.class);
        core.started("ps", true);
        assertThat(core.pollHeld("pa")).isEqualTo(new SchedulingCore.Decision.Parents(List.of("ps")));
        core.started("pa", false);
        for (int n = 0; n < 10; n++) {
            core.pieceFinished("ps", n, null, Duration.ofMillis(80));
        }
        for (int n = 0; n < 5; n++) {
            core.pieceFinished("pa", n, "ps", Duration.ofMillis(80));
        }
        assertThat(core.register("b", TASK, "pb", 40 * MIB, 4 * MIB)).isInstanceOfSatisfying(SchedulingCore.Decision.Parents.class,
                p -> assertThat(p.parentPeerIds()).containsExactlyInAnyOrder("ps", "pa"));
        core.started("pb", false);
        // pb's parent pa fails it: pb is left with the seed, never the origin
        core.pieceFailed("pb", "pa");
        assertThat(core.reschedule("pb", List.of())).isEqualTo(new SchedulingCore.Decision.Parents(List.of("ps")));
        core.finished("ps", true);
        core.left("pa");
        assertThat(core.reschedule("pb", List.of("ps"))).isEqualTo(new SchedulingCore.Decision.BackToSource("no peer holds task "
                + TASK + " yet"));
    }
}
