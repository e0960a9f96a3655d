package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.dockerjava.api.command.InspectContainerResponse;
import dev.pollen.e2e.TestFiles.TestFile;
import dev.pollen.e2e.registry.Commands;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.testcontainers.containers.GenericContainer;

/**
 * The image in a memory-limited container, as the chart runs it (a limit, and the heap a share of it through
 * POLLEN_JAVA_OPTS=-XX:MaxRAMPercentage): the JVM sizes its heap from the container's cgroup, not the host's memory,
 * and the agent downloads a file twice the size of the limit without being OOM-killed, its peak RSS under the limit.
 */
class ContainerMemoryLimitTest {
    private static final long LIMIT = 384 * MiB;
    private static final int HEAP_PERCENT = 40;
    private static final Pattern METRICS_PORT = Pattern.compile("event=ready .* metrics=\\S*:(\\d+)");
    private static final Pattern HEAP_MAX = Pattern.compile("(?m)^jvm_memory_max_bytes\\{area=\"heap\"[^}]*} (\\S+)$");
    private static final Pattern PEAK_RSS = Pattern.compile("(?m)^VmHWM:\\s+(\\d+) kB$");

    @RegisterExtension
    static final Nginx origin = new Nginx();

    @RegisterExtension
    final AgentContainers agents = new AgentContainers();

    @TempDir
    Path dir;

    @Test
    void sizesTheHeapFromTheLimitAndDownloadsAFileTwiceItsSizeUnderIt() throws Exception {
        TestFile file = origin.createFile("big.bin", 2 * LIMIT, 41);
        Path sockets = Files.createDirectories(dir.resolve("run"));
        Path outputs = Files.createDirectories(dir.resolve("out"));
        Commands.check(Podman.TIMEOUT, List.of("chown", "65532:65532", sockets.toString(), outputs.toString()));

        GenericContainer<?> agent = agents.start(agents.agent(AgentContainers.IMAGE, sockets, outputs)
                .withEnv("POLLEN_JAVA_OPTS", "-XX:MaxRAMPercentage=" + HEAP_PERCENT)
                .withCreateContainerCmdModifier(c -> c.getHostConfig().withMemory(LIMIT).withMemorySwap(LIMIT)));
        assertThat(agent.getContainerInfo().getHostConfig().getMemory()).as("the container's limit").isEqualTo(LIMIT);
        assertThat(heapMax(agent)).as("the heap's ceiling: %d%% of the container's limit", HEAP_PERCENT)
                .isBetween((long) (LIMIT * (HEAP_PERCENT - 5) / 100.0), (long) (LIMIT * HEAP_PERCENT / 100.0));

        // The launcher's AOT training start (a second JVM of ~230 MiB) would share the limit with the download.
        assertThat(agent.execInContainer("sh", "-c", "grep -l /opt/java/bin/jav[a] /proc/[0-9]*/cmdline").getStdout().lines())
                .as("the JVMs in a container limited to %d MiB", LIMIT / MiB).hasSize(1);
        Path output = outputs.resolve("big.bin");
        Dfget.Result result;
        try {
            // Bounded for a slow disk, not for speed: what is tested is the memory.
            result = new Dfget(sockets.resolve("dfdaemon.sock"), dir)
                    .startDownload(origin.url("big.bin"), output).await(Duration.ofMinutes(3));
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + described(agent), e);
        }

        assertThat(result.exitCode()).as(result + described(agent)).isZero();
        assertThat(TestFiles.sha256(output)).isEqualTo(file.sha256());
        InspectContainerResponse after = agent.getCurrentContainerInfo();
        assertThat(after.getState().getRunning()).as("the agent container, running: %s%n%s", after.getState(), agent.getLogs())
                .isTrue();
        assertThat(after.getState().getOOMKilled()).isFalse();
        assertThat(after.getRestartCount()).isZero();
        Matcher rss = PEAK_RSS.matcher(agent.execInContainer("cat", "/proc/1/status").getStdout());
        assertThat(rss.find()).isTrue();
        assertThat(Long.parseLong(rss.group(1)) * 1024).as("the daemon's peak RSS").isLessThan(LIMIT);
    }

    /**
     * The agent container's state, its cgroup's memory counters, its storage and its log with a thread dump (SIGQUIT),
     * for a failure's message: a download that does not finish must say where the daemon is.
     */
    private static String described(GenericContainer<?> agent) {
        StringBuilder out = new StringBuilder("\n--- the agent container ---\n").append(agent.getCurrentContainerInfo().getState());
        try {
            out.append("\n--- memory.stat, storage ---\n").append(agent.execInContainer("sh", "-c",
                    "cat /sys/fs/cgroup/memory.stat 2>/dev/null || cat /sys/fs/cgroup/memory/memory.stat; "
                            + "grep -E 'VmRSS|VmHWM|Threads' /proc/1/status; ls -lR /tmp/storage; kill -QUIT 1").getStdout());
            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> agent.getLogs().contains("Full thread dump"));
        } catch (Exception | AssertionError e) {
            out.append("\n(the diagnostics failed: ").append(e).append(')');
        }
        return out.append("\n--- its log ---\n").append(agent.getLogs()).toString();
    }

    /** The sum of the heap pools' maxima, from the agent's /metrics (the ready line names its port). */
    private static long heapMax(GenericContainer<?> agent) throws IOException, InterruptedException {
        Matcher port = METRICS_PORT.matcher(agent.getLogs());
        assertThat(port.find()).as("the ready line names the metrics port").isTrue();
        String metrics;
        try (HttpClient http = HttpClient.newHttpClient()) {
            metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port.group(1) + "/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
        }
        Matcher pool = HEAP_MAX.matcher(metrics);
        long sum = 0;
        while (pool.find()) {
            sum += (long) Double.parseDouble(pool.group(1));
        }
        assertThat(sum).as("jvm_memory_max_bytes{area=heap} in\n" + metrics).isPositive();
        return sum;
    }
}
