package dev.pollen.agent;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class DfdaemonCommandTest {
    @Test
    void aStarvingThreadCombinationIsRefusedBeforeAnythingStartsWithExitTwo() {
        PrintStream saved = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int exit;
        try {
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            // 576 piece-traffic loops: refused on any machine with fewer than 144 CPUs.
            exit = new CommandLine(new DfdaemonCommand()).execute("--download.server.socketPath=/nonexistent/d.sock",
                    "--threads.vortexServerEventLoops=256", "--threads.vortexClientEventLoops=256",
                    "--threads.uploadEventLoops=64");
        } finally {
            System.setErr(saved);
        }
        assertThat(exit).isEqualTo(2);
        assertThat(err.toString(StandardCharsets.UTF_8)).startsWith("dfdaemon: invalid configuration: "
                + "threads.uploadEventLoops + threads.vortexServerEventLoops + threads.vortexClientEventLoops: 64 + 256 + 256 on ");
    }
}
