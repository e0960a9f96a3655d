package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.e2e.TestFiles.TestFile;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The peer-to-peer path across machines: every node (origin, scheduler, seed peer, agents) in a network
 * namespace of its own on one bridge, each agent a real dfdaemon with its own address, dfget run inside the
 * agent's namespace. What the origin sent is counted from nginx's log; where each agent's bytes came from, from
 * dfget's summary line.
 */
class P2pSwarmTest {
    /**
     * The origin's probe of a file: one byte ({@code Range: bytes=0-0}). Every agent that downloads a task it does
     * not have probes once, as Dragonfly's dfdaemon does: it registers with the length it learned.
     */
    private static final long PROBE = 1;
    /** The agents' piece length for these file sizes (content length / 500, at least 4 MiB). */
    private static final long PIECE = 4 * MiB;
    /** For 4 agents to fetch 256 MiB at once: about 10 s each here, on 2 CPUs shared by 5 daemons. */
    private static final Duration SWARM_BUDGET = Duration.ofSeconds(60);
    /**
     * How long children may take to finish once their parent is killed: the 10 pieces it had not fetched yet
     * take about 5 s from the rate-limited origin (8 at a time at 2 MiB/s); waiting on parents that will never
     * have them must not take much longer.
     */
    private static final Duration FALLBACK_BUDGET = Duration.ofSeconds(30);
    private static final Pattern DOWNLOAD_STARTED = Pattern.compile("event=download_started task=(\\w+) .* url=(\\S+)");

    @RegisterExtension
    final Swarm swarm = new Swarm();

    @TempDir
    Path out;

    @Test
    void fourAgentsFetchTheSameFileAndTheOriginSendsItOnce() {
        swarm.originUploadRate("800mbit").agents(4).start();
        TestFile file = swarm.origin().createFile("swarm.bin", 256 * MiB, 21);
        String url = swarm.origin().url("/swarm.bin");

        List<Dfget.Running> running = new ArrayList<>();
        long started = System.nanoTime();
        for (Swarm.Node agent : swarm.agents()) {
            running.add(agent.dfget().startDownload(url, out.resolve(agent.name() + ".bin")));
        }
        List<Dfget.Result> results = new ArrayList<>();
        for (int i = 0; i < running.size(); i++) {
            results.add(awaitUntil(running.get(i), started + SWARM_BUDGET.toNanos(),
                    swarm.agent(i).name() + " did not finish within " + SWARM_BUDGET.toSeconds() + " s"));
        }

        int fromPeers = 0;
        StringBuilder summaries = new StringBuilder();
        for (int i = 0; i < results.size(); i++) {
            Dfget.Result result = results.get(i);
            Swarm.Node agent = swarm.agent(i);
            assertThat(result.exitCode()).as(agent.name() + ": " + result + "\n" + swarm.report()).isZero();
            assertThat(TestFiles.sha256(out.resolve(agent.name() + ".bin"))).as(agent.name() + "'s output").isEqualTo(file.sha256());
            Dfget.Summary summary = result.summary();
            summaries.append(agent.name()).append(": ").append(summaryLine(result)).append('\n');
            if (summary.peers() * 2 >= summary.total()) {
                fromPeers++;
            }
        }
        System.out.println("[e2e] " + file.size() / MiB + " MiB to 4 agents at once:\n" + summaries.toString().strip());
        long originSent = swarm.origin().bytesSent("/swarm.bin");
        assertThat(originSent).as("bytes the origin sent for 4 downloads of " + file.size() + "\n" + summaries + swarm.report())
                .isLessThanOrEqualTo((long) (file.size() * 1.05));
        assertThat(fromPeers).as("agents that got at least half of their bytes from peers\n" + summaries + swarm.report())
                .isGreaterThanOrEqualTo(3);
    }

    @Test
    void childrenFinishWhenAParentIsKilledMidway() {
        // No seed: the scheduler would have it download the task and hand it out as the first agent's parent.
        // The parent fetches 2 pieces at a time at 2 MiB/s each: its 16 pieces of 4 MiB land about one a second.
        swarm.originLocation(Nginx.rateLimited("/slow/", "2m")).withoutSeed()
                .agents(4).agentFlags(0, "--download.concurrentPieceCount=2").start();
        TestFile file = swarm.origin().createFile("midway.bin", 64 * MiB, 22);
        String url = swarm.origin().url("/slow/midway.bin");
        Swarm.Node parent = swarm.agent(0);
        List<Swarm.Node> children = swarm.agents().subList(1, 4);

        Dfget.Running parentGet = parent.dfget().startDownload(url, out.resolve("parent.bin"));
        await("the first agent to know the task from the origin").atMost(Duration.ofSeconds(20))
                .until(() -> !parent.logLines("event=task_created").isEmpty() || !parent.daemon().isAlive());
        String task = taskOf(parent, url);
        assertThat(parent.logLines("event=peer_registered task=" + task)).as(swarm.report())
                .singleElement().asString().contains("decision=BackToSource");

        List<Dfget.Running> childGets = new ArrayList<>();
        for (Swarm.Node child : children) {
            childGets.add(child.dfget().startDownload(url, out.resolve(child.name() + ".bin")));
        }
        await("the children to follow the first agent").atMost(Duration.ofSeconds(30))
                .until(() -> children.stream().allMatch(c -> !c.logLines("event=task_created task=" + task).isEmpty()));
        for (Swarm.Node child : children) {
            assertThat(child.logLines("event=task_created task=" + task)).as(child.name() + "\n" + swarm.report())
                    .singleElement().asString().contains("source=parents");
        }
        // Mid-way: 6 of 16 pieces at the parent, and 3 more since the children followed it (about a second each), time
        // enough for the children to fetch some (they are told of each piece as it lands). Counted from when they
        // followed: on a busy machine their dfget may start after the parent has had its first pieces for a while.
        long atFollow = parentPieces();
        await("6 pieces to reach the parent, 3 of them since the children followed it").atMost(Duration.ofSeconds(30))
                .until(() -> parentPieces() >= Math.max(6, atFollow + 3));
        assertThat(parent.logLines("event=task_finished task=" + task)).as("the parent finished before it was killed").isEmpty();

        parent.daemon().kill9();
        long killed = System.nanoTime();

        assertThat(parentGet.await(Duration.ofSeconds(30)).exitCode()).as("dfget of the killed agent").isNotZero();
        for (int i = 0; i < children.size(); i++) {
            Swarm.Node child = children.get(i);
            Dfget.Result result = awaitUntil(childGets.get(i), killed + FALLBACK_BUDGET.toNanos(),
                    child.name() + " did not finish within " + FALLBACK_BUDGET.toSeconds() + " s of its parent's kill");
            assertThat(result.exitCode()).as(child.name() + ": " + result + "\n" + swarm.report()).isZero();
            assertThat(TestFiles.sha256(out.resolve(child.name() + ".bin"))).as(child.name() + "'s output").isEqualTo(file.sha256());
            System.out.println("[e2e] " + child.name() + " after its parent was killed: " + summaryLine(result));
            assertThat(result.summary().peers()).as(child.name() + " got the parent's first pieces: " + summaryLine(result))
                    .isPositive();
        }
        String parentPeer = peerOf(parent, task);
        assertThat(children.stream().flatMap(c -> c.daemon().stdout().lines())
                .filter(l -> (l.contains("event=parent_gone") || l.contains("event=parent_failed")) && l.contains(parentPeer)))
                .as("children noticing that " + parentPeer + " is gone\n" + swarm.report())
                .isNotEmpty();
    }

    @Test
    void schedulerDownMeansTheOriginAndBackMeansP2p() {
        // No seed, so that the first agent to fetch a task goes to the origin and the second to it.
        swarm.agentFlags("--scheduler.announceInterval=1s").withoutSeed().agents(3).start();
        TestFile during = swarm.origin().createFile("during.bin", 32 * MiB, 23);
        TestFile after = swarm.origin().createFile("after.bin", 64 * MiB, 24);

        swarm.scheduler().terminate();
        Dfget.Result alone = swarm.agent(0).dfget().download(swarm.origin().url("/during.bin"), out.resolve("during.bin"));

        assertThat(alone.exitCode()).as(alone + "\n" + swarm.report()).isZero();
        assertThat(TestFiles.sha256(out.resolve("during.bin"))).isEqualTo(during.sha256());
        assertThat(alone.summary().origin()).as(summaryLine(alone)).isEqualTo(during.size());
        String duringTask = taskOf(swarm.agent(0), swarm.origin().url("/during.bin"));
        assertThat(swarm.agent(0).logLines("event=scheduler_unavailable task=" + duringTask))
                .as("scheduler_unavailable lines for the task\n" + swarm.report())
                .hasSize(1)
                .allMatch(l -> l.contains("action=back_to_source"));
        assertThat(swarm.origin().bytesSent("/during.bin")).isBetween(during.size(), during.size() + PROBE);

        swarm.scheduler().restart();
        List<Swarm.Node> nodes = swarm.agents();
        long restarted = System.nanoTime();
        await("every agent to announce itself to the restarted scheduler").atMost(Duration.ofSeconds(30))
                .pollInterval(Duration.ofMillis(100))
                .until(() -> nodes.stream().allMatch(n -> !swarm.scheduler().logLines("event=host_joined host=" + n.ip() + "-").isEmpty()));
        System.out.println("[e2e] all agents back on the restarted scheduler after "
                + Duration.ofNanos(System.nanoTime() - restarted).toMillis() + " ms");

        String afterUrl = swarm.origin().url("/after.bin");
        Dfget.Result first = swarm.agent(1).dfget().download(afterUrl, out.resolve("after-1.bin"));
        assertThat(first.exitCode()).as(first + "\n" + swarm.report()).isZero();
        Dfget.Result second = swarm.agent(2).dfget().download(afterUrl, out.resolve("after-2.bin"));
        assertThat(second.exitCode()).as(second + "\n" + swarm.report()).isZero();

        assertThat(TestFiles.sha256(out.resolve("after-1.bin"))).isEqualTo(after.sha256());
        assertThat(TestFiles.sha256(out.resolve("after-2.bin"))).isEqualTo(after.sha256());
        String afterTask = taskOf(swarm.agent(1), afterUrl);
        assertThat(swarm.agent(1).logLines("event=peer_registered task=" + afterTask)).as(swarm.report())
                .singleElement().asString().contains("decision=BackToSource");
        assertThat(swarm.agent(2).logLines("event=peer_registered task=" + afterTask)).as(swarm.report())
                .singleElement().asString().contains("decision=Parents");
        assertThat(second.summary()).as(summaryLine(second) + "\n" + swarm.report())
                .isEqualTo(new Dfget.Summary(after.size(), 0, after.size(), 0));
        assertThat(swarm.origin().bytesSent("/after.bin")).as("the file once and each agent's probe")
                .isBetween(after.size(), after.size() + 2 * PROBE);
    }

    @Test
    void aParentThatUploadsCorruptPiecesIsCaughtAndNotUsedAgain() {
        swarm.withoutSeed().agents(1).start();
        Swarm.Node liar = swarm.startAgent("liar", "--debug-fault-injection=corrupt-uploads");
        TestFile file = swarm.origin().createFile("liar.bin", 64 * MiB, 25);
        String url = swarm.origin().url("/liar.bin");
        Dfget.Result first = liar.dfget().download(url, out.resolve("liar-own.bin"));
        assertThat(first.exitCode()).as(first + "\n" + swarm.report()).isZero();

        Swarm.Node honest = swarm.agent(0);
        Dfget.Result result = honest.dfget().download(url, out.resolve("honest.bin"));

        assertThat(result.exitCode()).as(result + "\n" + swarm.report()).isZero();
        assertThat(TestFiles.sha256(out.resolve("honest.bin"))).isEqualTo(file.sha256());
        String task = taskOf(honest, url);
        assertThat(honest.logLines("event=peer_registered task=" + task)).as(swarm.report())
                .singleElement().asString().contains("decision=Parents");
        List<String> failures = honest.logLines("event=parent_failed task=" + task);
        assertThat(failures).as("pieces the honest agent rejected\n" + swarm.report()).isNotEmpty()
                .allMatch(l -> l.contains("crc32"));
        // Reported to the scheduler, which blocks the liar for this child...
        assertThat(swarm.scheduler().logLines("event=parent_blocked task=" + task)).as(swarm.report()).isNotEmpty();
        // ...and not asked again once caught: at most the pieces already in flight to it fail.
        assertThat(failures).as("fetches that went to the liar").hasSizeLessThanOrEqualTo(8);
        assertThat(result.summary().peers()).as(summaryLine(result)).isZero();
    }

    @Test
    void aSlowParentIsGivenUpForTheOthersInsteadOfBeingWaitedFor() {
        swarm.withoutSeed().agents(1).start();
        Swarm.Node fast = swarm.startAgent("fast");
        // 1 MiB/s for all its uploads: the 4 MiB pieces a child asks it for take seconds each.
        Swarm.Node slow = swarm.startAgent("slow", "--upload.rateLimit=1MiB");
        TestFile file = swarm.origin().createFile("slow.bin", 96 * MiB, 26);
        String url = swarm.origin().url("/slow.bin");
        for (Swarm.Node parent : List.of(fast, slow)) {
            Dfget.Result own = parent.dfget().download(url, out.resolve(parent.name() + ".bin"));
            assertThat(own.exitCode()).as(own + "\n" + swarm.report()).isZero();
        }

        Swarm.Node child = swarm.agent(0);
        long start = System.nanoTime();
        Dfget.Result result = child.dfget().download(url, out.resolve("child.bin"));
        Duration took = Duration.ofNanos(System.nanoTime() - start);

        assertThat(result.exitCode()).as(result + "\n" + swarm.report()).isZero();
        assertThat(TestFiles.sha256(out.resolve("child.bin"))).isEqualTo(file.sha256());
        String task = taskOf(child, url);
        String slowPeer = peerOf(slow, task);
        // The child may never need to give a piece up: parents are asked by their measured throughput, so the slow one
        // gets few requests. Whatever it did give up was the slow parent's.
        assertThat(child.logLines("event=parent_slow task=" + task)).as(swarm.report())
                .allMatch(l -> l.contains("parent=" + slowPeer));
        // Slow is not broken: nothing was reported as a failed parent, and every byte still came from peers.
        assertThat(child.logLines("event=parent_failed task=" + task)).as(swarm.report()).isEmpty();
        assertThat(result.summary().peers()).as(summaryLine(result)).isEqualTo(file.size());
        // Waiting for the slow parent would take 16 s or more (4 pieces in flight to it at 1 MiB/s).
        assertThat(took).as(summaryLine(result) + "\n" + swarm.report()).isLessThan(Duration.ofSeconds(12));
    }

    /** The dfget's result if it ends before {@code deadline} ({@link System#nanoTime()}); else kills it and fails. */
    private Dfget.Result awaitUntil(Dfget.Running dfget, long deadline, String failure) {
        long left = Math.max(0, deadline - System.nanoTime());
        try {
            return dfget.await(Duration.ofNanos(left));
        } catch (AssertionError e) {
            throw new AssertionError(failure + "\n" + e.getMessage() + "\n" + swarm.report(), e);
        }
    }

    /** The task id a daemon logged for its download of {@code url}. */
    private static String taskOf(Swarm.Node node, String url) {
        for (String line : node.logLines("event=download_started")) {
            Matcher m = DOWNLOAD_STARTED.matcher(line);
            if (m.find() && m.group(2).equals(url)) {
                return m.group(1);
            }
        }
        throw new AssertionError(node.name() + " logged no download of " + url + ":\n" + node.daemon());
    }

    /** The peer id the daemon registered for {@code task} with the scheduler. */
    private static String peerOf(Swarm.Node node, String task) {
        Pattern registered = Pattern.compile("event=peer_registered task=" + task + " peer=(\\S+)");
        for (String line : node.logLines("event=peer_registered")) {
            Matcher m = registered.matcher(line);
            if (m.find()) {
                return m.group(1);
            }
        }
        throw new AssertionError(node.name() + " registered no peer for " + task + ":\n" + node.daemon());
    }

    private static String summaryLine(Dfget.Result result) {
        return result.stderr().lines().filter(l -> l.startsWith("downloaded ")).findFirst().orElse("(no summary)");
    }

    /** Whole pieces the origin has sent for the task killed midway (only its first agent asks the origin then). */
    private long parentPieces() {
        return swarm.origin().loggedRequests("/slow/midway.bin").stream().filter(r -> r.bytes() == PIECE).count();
    }
}
