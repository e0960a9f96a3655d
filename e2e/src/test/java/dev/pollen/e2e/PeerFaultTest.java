package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.e2e.TestFiles.TestFile;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A parent that breaks off mid-piece: its Vortex port is behind a {@link FaultProxy} in its own namespace that
 * resets or stalls every connection after 1 MiB of a 4 MiB piece (its daemon listens on 127.0.0.1, the proxies
 * on the node's address, which is what it announces). The child's download completes with the right bytes,
 * and the bad parent is reported. (A parent that corrupts pieces: P2pSwarmTest.)
 * Runs per fault: {@code -Dfaults.runs=N} (default 1).
 */
class PeerFaultTest {
    private static final int RUNS = Integer.getInteger("faults.runs", 1);
    private static final Pattern STARTED = Pattern.compile("event=download_started task=(\\w+) .*url=(\\S+)");

    @RegisterExtension
    final Swarm swarm = new Swarm();

    @TempDir
    Path out;

    @ParameterizedTest
    @ValueSource(strings = {"RESET", "STALL"})
    void aParentThatBreaksOffMidPieceIsReportedAndTheDownloadIsRight(String kind) throws Exception {
        swarm.withoutSeed().agents(1).agentFlags(0, "--download.pieceTimeout=5s").start();
        Swarm.Node bad = swarm.startAgent("bad", "--upload.server.ip=127.0.0.1");
        List<Process> proxies = new ArrayList<>();
        try {
            Path grpcLog = proxy(proxies, bad, Swarm.UPLOAD_PORT, "RESET", 0, 0); // 0 times: passes everything
            Path vortexLog = proxy(proxies, bad, Swarm.PIECE_PORT, kind, MiB, FaultProxy.ALWAYS);
            Swarm.Node child = swarm.agent(0);
            for (int run = 0; run < RUNS; run++) {
                TestFile file = swarm.origin().createFile(kind + "-" + run + ".bin", 64 * MiB, 40 + run);
                String url = swarm.origin().url("/" + file.path().getFileName());
                Dfget.Result own = bad.dfget().download(url, out.resolve("bad-" + run + ".bin"));
                assertThat(own.exitCode()).as(own + "\n" + swarm.report()).isZero();

                Dfget.Result result = child.dfget().download(url, out.resolve("child-" + run + ".bin"));

                String context = result + "\n" + swarm.report() + "\nproxy " + LogFiles.read(vortexLog) + "\n" + LogFiles.read(grpcLog);
                assertThat(result.exitCode()).as(context).isZero();
                assertThat(TestFiles.sha256(out.resolve("child-" + run + ".bin"))).as(context).isEqualTo(file.sha256());
                String task = started(child, url).group(1);
                String badPeer = peerOf(bad, task);
                assertThat(child.logLines("event=peer_registered task=" + task)).as(context)
                        .singleElement().asString().contains("decision=Parents");
                assertThat(LogFiles.read(vortexLog)).as("connections the proxy cut\n" + context).contains(kind + " after");
                List<String> reported = child.daemon().stdout().lines()
                        .filter(l -> (l.contains("event=parent_failed") || l.contains("event=parent_slow"))
                                && l.contains("task=" + task) && l.contains(badPeer))
                        .toList();
                assertThat(reported).as("the child reporting " + badPeer + "\n" + context).isNotEmpty();
                // ...to the scheduler, which stops offering it to this child.
                assertThat(swarm.scheduler().logLines("event=parent_blocked task=" + task)).as(context)
                        .anyMatch(l -> l.contains("parent=" + badPeer));
                System.out.println("[e2e] parent " + kind + " mid-piece, run " + run + ": " + summary(result)
                        + "; reported: " + reported.getFirst().replaceFirst("^.*?event=", "event="));
            }
            assertThat(bad.daemon().isAlive()).isTrue();
            assertThat(child.daemon().isAlive()).isTrue();
        } finally {
            proxies.forEach(p -> ChildProcesses.terminate(p, Duration.ofSeconds(5)));
        }
    }

    /** Starts a TCP {@link FaultProxy} in {@code node}'s namespace: node IP:port to 127.0.0.1:port. Returns its log. */
    private static Path proxy(List<Process> proxies, Swarm.Node node, int port, String kind, long bytes, int times)
            throws IOException, URISyntaxException {
        Path classes = Path.of(FaultProxy.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        String java = ProcessHandle.current().info().command().orElse(System.getProperty("java.home") + "/bin/java");
        Path log = Files.createTempFile(node.daemon().dir(), "proxy-" + port + "-", ".out");
        Process p = ChildProcesses.track(new ProcessBuilder(node.netns().exec(List.of(java, "-cp", classes.toString(),
                FaultProxy.class.getName(), node.ip(), String.valueOf(port), "127.0.0.1", String.valueOf(port), kind,
                String.valueOf(bytes), String.valueOf(times))))
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .redirectOutput(log.toFile())
                .redirectErrorStream(true)
                .start());
        proxies.add(p);
        await("the proxy on " + node.ip() + ":" + port).atMost(Duration.ofSeconds(20))
                .failFast("the proxy exited: " + log, () -> !p.isAlive())
                .until(() -> LogFiles.read(log).startsWith("ready"));
        return log;
    }

    private static Matcher started(Swarm.Node node, String url) {
        for (String line : node.logLines("event=download_started")) {
            Matcher m = STARTED.matcher(line);
            if (m.find() && m.group(2).equals(url)) {
                return m;
            }
        }
        throw new AssertionError(node.name() + " logged no download of " + url + ":\n" + node.daemon());
    }

    /** The peer id the daemon registered for {@code task} with the scheduler (what children call it). */
    private static String peerOf(Swarm.Node node, String task) {
        Pattern registered = Pattern.compile("event=peer_registered task=" + task + " peer=(\\S+)");
        return node.logLines("event=peer_registered").stream().map(registered::matcher).filter(Matcher::find)
                .map(m -> m.group(1)).findFirst()
                .orElseThrow(() -> new AssertionError(node.name() + " registered no peer for " + task + ":\n" + node.daemon()));
    }

    private static String summary(Dfget.Result result) {
        return result.stderr().lines().filter(l -> l.startsWith("downloaded ")).findFirst().orElse("(no summary)");
    }
}
