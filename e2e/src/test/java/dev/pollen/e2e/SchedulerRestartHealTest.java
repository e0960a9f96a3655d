package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.e2e.TestFiles.TestFile;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A scheduler keeps everything in memory: restarted, it knows no peer. The nodes notice (their next announcement
 * goes over a new connection, or fails and then succeeds; StatPeer of a peer they finished says NOT_FOUND) and
 * announce what they hold again, so the next downloads of a file the swarm has come from peers, not the origin
 * (Dragonfly loses this: dragonfly#4853, #4880).
 */
class SchedulerRestartHealTest {
    /** The origin's probe of a file: one byte, once per agent that downloads a task it does not have. */
    private static final long PROBE = 1;

    @RegisterExtension
    final Swarm swarm = new Swarm();

    @TempDir
    Path out;

    @Test
    void afterASchedulerRestartNewAgentsGetAFileTheSwarmHoldsFromPeers() {
        swarm.agentFlags("--scheduler.announceInterval=1s").agents(2).start();
        TestFile file = swarm.origin().createFile("heal.bin", 64 * MiB, 31);
        String url = swarm.origin().url("/heal.bin");
        for (Swarm.Node agent : swarm.agents()) {
            Dfget.Result r = agent.dfget().download(url, out.resolve(agent.name() + ".bin"));
            assertThat(r.exitCode()).as(r + "\n" + swarm.report()).isZero();
        }
        long originBefore = swarm.origin().bytesSent("/heal.bin");
        assertThat(originBefore).as("the seed fetched the file once, each agent probed it").isBetween(file.size(),
                file.size() + 3 * PROBE);
        List<Swarm.Node> holders = new ArrayList<>(swarm.agents());
        holders.add(swarm.seed());

        swarm.scheduler().terminate();
        swarm.scheduler().restart();
        long restarted = System.nanoTime();
        await("every node that holds the file to announce it to the restarted scheduler").atMost(Duration.ofSeconds(30))
                .pollInterval(Duration.ofMillis(50))
                .until(() -> holders.stream().allMatch(n -> n.logLines("event=tasks_reannounced").stream()
                        .anyMatch(l -> !l.contains("reason=first_contact") && l.contains("tasks=1 "))));
        long healMillis = Duration.ofNanos(System.nanoTime() - restarted).toMillis();
        System.out.println("[e2e] every holder re-announced to the restarted scheduler " + healMillis + " ms after it was up");

        for (int i = 0; i < 2; i++) {
            Swarm.Node late = swarm.startAgent("late" + i, "--scheduler.announceInterval=1s");
            Dfget.Result r = late.dfget().download(url, out.resolve(late.name() + ".bin"));
            assertThat(r.exitCode()).as(r + "\n" + swarm.report()).isZero();
            assertThat(TestFiles.sha256(out.resolve(late.name() + ".bin"))).isEqualTo(file.sha256());
            assertThat(r.summary()).as(late.name() + ": " + r.stderr() + "\n" + swarm.report())
                    .isEqualTo(new Dfget.Summary(file.size(), 0, file.size(), 0));
        }
        assertThat(swarm.origin().bytesSent("/heal.bin")).as("only the late agents' probes after the restart")
                .isEqualTo(originBefore + 2 * PROBE);
        assertThat(swarm.scheduler().logLines("event=peer_finished")).as(swarm.report())
                .hasSizeGreaterThanOrEqualTo(holders.size() + 2);
    }
}
