package dev.pollen.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The launchers' heap: their fixed one on a laptop, and the one POLLEN_JAVA_OPTS sizes (the Helm chart passes
 * -XX:MaxRAMPercentage, a share of the container's memory limit) instead of it, not beside it: -Xmx would win.
 */
class LauncherHeapTest {
    private static final long MIB = 1024 * 1024;
    private static final Pattern MAX_HEAP = Pattern.compile("size_t MaxHeapSize\\s+=\\s+(\\d+)");

    @Test
    void dfdaemonKeepsItsFixedHeapUnlessJavaOptsSizeIt() throws Exception {
        assertThat(maxHeap(Pollen.dfdaemon(), "-XX:+PrintFlagsFinal")).isEqualTo(160 * MIB);
        assertThat(maxHeap(Pollen.dfdaemon(), "-XX:+PrintFlagsFinal -XX:MaxRAM=2g -XX:MaxRAMPercentage=25")).isEqualTo(512 * MIB);
    }

    @Test
    void schedulerKeepsItsFixedHeapUnlessJavaOptsSizeIt() throws Exception {
        assertThat(maxHeap(Pollen.scheduler(), "-XX:+PrintFlagsFinal")).isEqualTo(256 * MIB);
        assertThat(maxHeap(Pollen.scheduler(), "-XX:+PrintFlagsFinal -XX:MaxRAM=4g -XX:MaxRAMPercentage=25")).isEqualTo(1024 * MIB);
    }

    /** MaxHeapSize of the JVM a launcher starts for {@code --version}, with these POLLEN_JAVA_OPTS. */
    private static long maxHeap(Path launcher, String javaOpts) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(List.of(launcher.toString(), "--version")).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        pb.environment().put("POLLEN_JAVA_OPTS", javaOpts);
        Process p = ChildProcesses.track(pb.start());
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(ChildProcesses.awaitExit(p, Duration.ofSeconds(60))).as("%s --version exited", launcher).isTrue();
        assertThat(p.exitValue()).as("%s --version:%n%s", launcher, out).isZero();
        Matcher m = MAX_HEAP.matcher(out);
        assertThat(m.find()).as("MaxHeapSize in the output of %s", launcher).isTrue();
        return Long.parseLong(m.group(1));
    }
}
