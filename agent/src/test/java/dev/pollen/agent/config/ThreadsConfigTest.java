package dev.pollen.agent.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code threads.*}: loading, deriving from the CPUs, and the checks across keys at start-up. */
class ThreadsConfigTest {
    private final ConfigLoader loader = new ConfigLoader();

    private static CpuBudget cpus(int n) {
        return new CpuBudget(n, "test");
    }

    private DaemonConfig load(Map<String, String> flags) {
        return loader.load(null, Map.of(), flags);
    }

    @Test
    void everyCountIsDerivedFromTheCpusByDefault() {
        DaemonConfig config = load(Map.of());
        assertThat(config.threads()).isEqualTo(new ThreadsConfig(0, 0, 0, 0, 0));
        assertThat(config.conclude(cpus(1))).isEqualTo(new ThreadsConfig.Effective(cpus(1), 1, 2, 1, 1, 1));
        assertThat(config.conclude(cpus(2))).isEqualTo(new ThreadsConfig.Effective(cpus(2), 1, 2, 1, 2, 2));
        assertThat(config.conclude(cpus(8))).isEqualTo(new ThreadsConfig.Effective(cpus(8), 2, 8, 4, 8, 8));
        assertThat(config.conclude(cpus(64))).isEqualTo(new ThreadsConfig.Effective(cpus(64), 2, 8, 4, 16, 16));
    }

    @Test
    void theDerivedCountsPassTheChecksOnAnyMachine() {
        DaemonConfig config = load(Map.of());
        for (int n = 1; n <= 256; n++) {
            assertThat(config.conclude(cpus(n)).udsControlThreads()).isGreaterThanOrEqualTo(2);
        }
    }

    @Test
    void keysSetByFlagOrEnvironmentWin() {
        DaemonConfig config = load(Map.of("threads.udsEventLoops", "3", "threads.udsControlThreads", "4",
                "threads.uploadEventLoops", "2", "threads.vortexServerEventLoops", "3"));
        assertThat(config.conclude(cpus(2))).isEqualTo(new ThreadsConfig.Effective(cpus(2), 3, 4, 2, 3, 2));
        DaemonConfig fromEnv = loader.load(null, Map.of("DFDAEMON_THREADS_VORTEXCLIENTEVENTLOOPS", "5"), Map.of());
        assertThat(fromEnv.threads().vortexClientEventLoops()).isEqualTo(5);
    }

    @Test
    void eachKeyIsCheckedAlone() {
        assertThatThrownBy(() -> load(Map.of("threads.udsEventLoops", "-1")))
                .hasMessageContaining("threads.udsEventLoops: -1 (expected: 0..64)");
        assertThatThrownBy(() -> load(Map.of("threads.udsControlThreads", "1")))
                .hasMessageContaining("threads.udsControlThreads: 1 (expected: 0 for auto, or 2..256");
        assertThatThrownBy(() -> load(Map.of("threads.vortexServerEventLoops", "1000")))
                .hasMessageContaining("threads.vortexServerEventLoops: 1000 (expected: 0..256)");
        assertThatThrownBy(() -> load(Map.of("threads.vortexClientEventLoops", "many")))
                .hasMessageContaining("threads.vortexClientEventLoops");
    }

    @Test
    void pieceTrafficLoopsThatCrowdOutTheLocalApiAreRefusedNamingTheKeysAndWorkingValues() {
        DaemonConfig config = load(Map.of("threads.vortexServerEventLoops", "8", "threads.vortexClientEventLoops", "8",
                "threads.uploadEventLoops", "1"));
        assertThatThrownBy(() -> config.conclude(cpus(2))).isInstanceOf(ConfigException.class)
                .hasMessage("threads.uploadEventLoops + threads.vortexServerEventLoops + threads.vortexClientEventLoops: "
                        + "1 + 8 + 8 on 2 CPUs (expected: at most 8, 4 per CPU: more loops busy with piece traffic keep the "
                        + "local API waiting for a CPU; e.g. threads.uploadEventLoops: 1, threads.vortexServerEventLoops: 2, "
                        + "threads.vortexClientEventLoops: 2)");
        assertThat(config.conclude(cpus(8)).vortexServerEventLoops()).isEqualTo(8);
    }

    @Test
    void fewerUploadSlotsThanVortexLoopsAreRefused() {
        DaemonConfig config = load(Map.of("upload.concurrentPieceLimit", "2", "threads.vortexServerEventLoops", "4"));
        assertThatThrownBy(() -> config.conclude(cpus(4))).isInstanceOf(ConfigException.class)
                .hasMessage("upload.concurrentPieceLimit: 2 is below threads.vortexServerEventLoops: 4 (expected: "
                        + "upload.concurrentPieceLimit >= threads.vortexServerEventLoops, or loops beyond the upload slots "
                        + "never send; e.g. threads.vortexServerEventLoops: 2, or upload.concurrentPieceLimit: 4)");
        assertThat(load(Map.of("upload.concurrentPieceLimit", "0", "threads.vortexServerEventLoops", "4"))
                .conclude(cpus(4)).vortexServerEventLoops()).isEqualTo(4);
    }
}
