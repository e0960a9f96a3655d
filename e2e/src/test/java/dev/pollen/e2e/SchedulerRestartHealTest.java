package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.e2e.TestFiles.TestFile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A scheduler keeps everything in memory: restarted, it knows no peer. The nodes notice (their next announcement
 * goes over a new connection, or fails and then succeeds; StatPeer of a peer they finished says NOT_FOUND) and
 * announce what they hold again, so the next downloads of a file the swarm has come from peers, not the origin
 * (Dragonfly loses this: dragonfly#4853, #4880). A download running through the restart registers again and goes on.
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

    /** Bytes of one record in a task's piece journal ({@code tasks/<id>/pieces}). */
    private static final int JOURNAL_RECORD = 28;
    private static final Pattern PEER = Pattern.compile("event=peer_registered task=\\S+ peer=(\\S+)");

    @Test
    void aDownloadRunningThroughASchedulerRestartRegistersAgainFinishesFromPeersAndServesOthers() {
        swarm.agentFlags("--scheduler.announceInterval=1s").agents(1).start();
        TestFile file = swarm.origin().createFile("running.bin", 64 * MiB, 32);
        String url = swarm.origin().url("/running.bin");
        Dfget.Result first = swarm.agent(0).dfget().download(url, out.resolve("agent0.bin"));
        assertThat(first.exitCode()).as(first + "\n" + swarm.report()).isZero();
        long originBefore = swarm.origin().bytesSent("/running.bin");
        // The holders' uplinks at 24 mbit each: the next download takes about 11 s, long enough to restart the scheduler in.
        swarm.seed().netns().limitUpload("24mbit");
        swarm.agent(0).netns().limitUpload("24mbit");

        Swarm.Node running = swarm.startAgent("running", "--scheduler.announceInterval=1s");
        Dfget.Running download = running.dfget().startDownload(url, out.resolve("running.bin"));
        await("two pieces to land").atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(50))
                .until(() -> journaledPieces(running) >= 2);
        // Killed, not stopped: a graceful stop would wait for the open streams, this download's among them.
        swarm.scheduler().kill9();
        int piecesAtRestart = journaledPieces(running);
        swarm.scheduler().restart();

        Dfget.Result r = download.await(Duration.ofSeconds(90));
        assertThat(r.exitCode()).as(r + "\n" + swarm.report()).isZero();
        assertThat(piecesAtRestart).as("the download was under way when the scheduler went").isLessThan(16);
        assertThat(TestFiles.sha256(out.resolve("running.bin"))).isEqualTo(file.sha256());
        assertThat(r.summary()).as("every byte from peers\n" + swarm.report()).isEqualTo(new Dfget.Summary(file.size(), 0, file.size(), 0));
        assertThat(running.logLines("event=back_to_source")).as(swarm.report()).isEmpty();
        Matcher registered = PEER.matcher(running.logLines("event=peer_registered ").getFirst());
        assertThat(registered.find()).isTrue();
        String peerId = registered.group(1);
        assertThat(running.logLines("event=peer_registered_again")).as(swarm.report())
                .anySatisfy(l -> assertThat(l).contains("peer=" + peerId));
        assertThat(swarm.scheduler().logLines("event=peer_finished")).as("the restarted scheduler heard it finish, under its id")
                .anySatisfy(l -> assertThat(l).contains("peer=" + peerId));

        // The restarted scheduler offers it: with the other holders gone, a new agent gets the file from it alone.
        swarm.seed().daemon().terminate();
        swarm.agent(0).daemon().terminate();
        Swarm.Node late = swarm.startAgent("late", "--scheduler.announceInterval=1s");
        Dfget.Result fromIt = late.dfget().download(url, out.resolve("late.bin"));
        assertThat(fromIt.exitCode()).as(fromIt + "\n" + swarm.report()).isZero();
        assertThat(fromIt.summary()).as(swarm.report()).isEqualTo(new Dfget.Summary(file.size(), 0, file.size(), 0));
        assertThat(swarm.origin().bytesSent("/running.bin")).as("only the two new agents' probes").isEqualTo(originBefore + 2 * PROBE);
    }

    /** Pieces in the node's piece journal of its only task. */
    private static int journaledPieces(Swarm.Node node) {
        try (Stream<Path> files = Files.walk(node.daemon().storage())) {
            return files.filter(f -> f.getFileName().toString().equals("pieces")).mapToInt(f -> {
                try {
                    return (int) (Files.size(f) / JOURNAL_RECORD);
                } catch (IOException e) {
                    return 0;
                }
            }).sum();
        } catch (IOException | UncheckedIOException e) {
            return 0;
        }
    }
}
