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
 * The launchers' JVMs. Their heap: their fixed one on a laptop, and the one POLLEN_JAVA_OPTS sizes (the Helm chart
 * passes -XX:MaxRAMPercentage, a share of the container's memory limit) instead of it, not beside it: -Xmx would
 * win. Their JIT: C1 only for the CLI, the scheduler and the daemon's commands (--version here); the daemon's own is
 * DaemonJitTest's. The image, the chart and the systemd unit run these launchers.
 */
class LauncherJvmTest {
    private static final long MIB = 1024 * 1024;
    private static final int C1_ONLY = 1;

    @Test
    void dfdaemonKeepsItsFixedHeapUnlessJavaOptsSizeIt() throws Exception {
        assertThat(flag(Pollen.dfdaemon(), "", "size_t MaxHeapSize")).isEqualTo(160 * MIB);
        assertThat(flag(Pollen.dfdaemon(), "-XX:MaxRAM=2g -XX:MaxRAMPercentage=25", "size_t MaxHeapSize")).isEqualTo(512 * MIB);
    }

    @Test
    void schedulerKeepsItsFixedHeapUnlessJavaOptsSizeIt() throws Exception {
        assertThat(flag(Pollen.scheduler(), "", "size_t MaxHeapSize")).isEqualTo(256 * MIB);
        assertThat(flag(Pollen.scheduler(), "-XX:MaxRAM=4g -XX:MaxRAMPercentage=25", "size_t MaxHeapSize")).isEqualTo(1024 * MIB);
    }

    @Test
    void theCliTheSchedulerAndTheDaemonsCommandsRunC1Only() throws Exception {
        assertThat(flag(Pollen.dfdaemon(), "", "intx TieredStopAtLevel")).isEqualTo(C1_ONLY);
        assertThat(flag(Pollen.dfget(), "", "intx TieredStopAtLevel")).isEqualTo(C1_ONLY);
        assertThat(flag(Pollen.scheduler(), "", "intx TieredStopAtLevel")).isEqualTo(C1_ONLY);
    }

    /** A numeric flag ("type Name") of the JVM a launcher starts for {@code --version}, with these POLLEN_JAVA_OPTS. */
    private static long flag(Path launcher, String javaOpts, String flag) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(List.of(launcher.toString(), "--version")).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        pb.environment().put("POLLEN_JAVA_OPTS", "-XX:+PrintFlagsFinal " + javaOpts);
        Process p = ChildProcesses.track(pb.start());
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(ChildProcesses.awaitExit(p, Duration.ofSeconds(60))).as("%s --version exited", launcher).isTrue();
        assertThat(p.exitValue()).as("%s --version:%n%s", launcher, out).isZero();
        Matcher m = Pattern.compile(Pattern.quote(flag) + "\\s+=\\s+(\\d+)").matcher(out);
        assertThat(m.find()).as("%s in the output of %s", flag, launcher).isTrue();
        return Long.parseLong(m.group(1));
    }
}
