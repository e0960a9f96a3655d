package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.e2e.TestFiles.TestFile;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The daemon's JIT as bin/dfdaemon and bin/dfdaemon-jit.json set it by default (POLLEN_DAEMON_JIT=c2-sha2): C2 for the
 * JDK's SHA-2 code only (a layer's sha256 at SHA-NI speed), C1 for everything else (the start-up and CPU the swarm
 * needs), and the VM's own output off the log stream; with POLLEN_DAEMON_JIT=c1, C1 only and no VM line.
 */
class DaemonJitTest {
    /** A line of -XX:+PrintCompilation: timestamp, compile id, attribute flags, tier, Class::method. */
    private static final Pattern COMPILATION = Pattern.compile("^\\s*\\d+\\s+\\d+\\s+[%sbn! ]*\\s([0-4])\\s+(\\S+)::");
    private static final List<String> C2_CLASSES = List.of("sun.security.provider.SHA2", "sun.security.provider.DigestBase");

    @RegisterExtension
    static final Nginx origin = new Nginx();

    @RegisterExtension
    static final Daemons daemons = new Daemons();

    @TempDir
    Path out;

    @Test
    void onlyTheSha2CodeOfADigestCheckedDownloadIsC2Compiled() {
        TestFile file = origin.createFile("hashed.bin", 64 * MiB, 21);
        DaemonProcess daemon = daemons.start(
                daemons.newSpec().withLauncher(List.of("env", "POLLEN_JAVA_OPTS=-XX:+PrintCompilation")));

        Dfget.Result result = daemon.dfget().download(origin.url("/hashed.bin"), out.resolve("hashed.bin"),
                "--digest", file.digest());
        assertThat(result.exitCode()).as(result.toString()).isZero();
        // The hash made its methods hot; C2 compiles them in the background, later on a loaded machine.
        await("C2's compile of the SHA-2 code").atMost(Duration.ofSeconds(60))
                .until(() -> compiles(daemon.stderrAsWritten()).stream().anyMatch(c -> c[0].equals("4")));
        daemon.terminate();

        List<String[]> compiles = compiles(daemon.stderrAsWritten());
        List<String> byC2 = compiles.stream().filter(c -> c[0].equals("4")).map(c -> c[1]).distinct().toList();
        assertThat(byC2).as("classes C2 compiled").isNotEmpty().allMatch(C2_CLASSES::contains);
        assertThat(compiles).as("the daemon's own code compiled by C1 (tier 1)")
                .anyMatch(c -> c[0].equals("1") && c[1].startsWith("dev.pollen.agent."));
        assertThat(daemon.stdout()).as("the log stream").doesNotContain(DaemonProcess.JIT_DIRECTIVES_LOADED);
        assertThat(daemon.stderrAsWritten()).startsWith(DaemonProcess.JIT_DIRECTIVES_LOADED + "\n");
    }

    @Test
    void underC1OnlyNothingIsC2CompiledAndTheVmSaysNothing() {
        TestFile file = origin.createFile("hashed-c1.bin", 16 * MiB, 22);
        DaemonProcess daemon = daemons.start(
                daemons.newSpec().withLauncher(List.of("env", "POLLEN_DAEMON_JIT=c1", "POLLEN_JAVA_OPTS=-XX:+PrintCompilation")));

        Dfget.Result result = daemon.dfget().download(origin.url("/hashed-c1.bin"), out.resolve("hashed-c1.bin"),
                "--digest", file.digest());
        assertThat(result.exitCode()).as(result.toString()).isZero();
        daemon.terminate();

        // No directives, so no DisplayVMOutputToStderr: the VM prints its compilations on stdout.
        List<String[]> compiles = compiles(daemon.stdout());
        assertThat(compiles).as("the daemon's compilations").isNotEmpty().noneMatch(c -> c[0].equals("4"));
        assertThat(daemon.stderrAsWritten()).doesNotContain(DaemonProcess.JIT_DIRECTIVES_LOADED);
    }

    /** Each compilation the VM printed in {@code output}: its tier and class. */
    private static List<String[]> compiles(String output) {
        return output.lines().map(COMPILATION::matcher).filter(Matcher::find)
                .map(m -> new String[] {m.group(1), m.group(2)}).toList();
    }
}
