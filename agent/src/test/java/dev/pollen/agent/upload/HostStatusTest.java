package dev.pollen.agent.upload;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.agent.upload.vortex.TestStats;
import dev.pollen.proto.common.v2.Host;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The host as AnnounceHost and SyncHost report it: what it runs filled in as Dragonfly's dfdaemon fills it
 * (dragonflyoss/client {@code dragonfly-client/src/announcer/mod.rs}, {@code make_announce_host_request}).
 */
class HostStatusTest {
    @TempDir
    Path dir;

    @Test
    void reportsWhatTheHostRuns() {
        Host host = new HostStatus(Host.newBuilder().setId("127.0.0.1-node").setHostname("node").build(), dir,
                TestStats.idle(), 0).get();

        assertThat(host.getHostname()).isEqualTo("node");
        // This suite runs on Linux (epoll); Rust's env::consts say "linux" and "unix" there.
        assertThat(host.getOs()).isEqualTo("linux");
        assertThat(host.getPlatform()).isEqualTo("linux");
        assertThat(host.getPlatformFamily()).isEqualTo("unix");
        assertThat(host.getKernelVersion()).isNotEmpty().isEqualTo(System.getProperty("os.version"));
        if (Files.exists(HostPlatform.OS_RELEASE)) {
            assertThat(host.getPlatformVersion()).isNotEmpty();
        }
        assertThat(host.getBuild().getGitVersion()).isNotEmpty();
        assertThat(host.getBuild().getPlatform()).startsWith("linux/");
        assertThat(host.hasMemory()).isTrue();
    }

    @Test
    void reportsTheUploadCapacityAndLoadInDragonflysNetworkFields() {
        // 3 slots, all sending, 2 requests in line, 50 MB/s over the last seconds, on a 400 Mbit/s uplink.
        Host host = new HostStatus(Host.newBuilder().setId("id").build(), dir, TestStats.busy(3, 3, 2, 50_000_000L),
                400_000_000L).get();

        assertThat(host.getNetwork().getMaxTxBandwidth()).as("bits per second").isEqualTo(400_000_000L);
        assertThat(host.getNetwork().getTxBandwidth()).as("bits per second").isEqualTo(400_000_000L);
        assertThat(host.getNetwork().getUploadTcpConnectionCount()).isEqualTo(5);
    }

    @Test
    void anUnknownCapacityGoesOutAsZeroAsDragonflyReadsIt() {
        Host host = new HostStatus(Host.newBuilder().setId("id").build(), dir, TestStats.idle(), 0).get();

        assertThat(host.getNetwork().getMaxTxBandwidth()).isZero();
        assertThat(host.getNetwork().getTxBandwidth()).isZero();
    }

    @Test
    void aHostWithoutANameGetsThisOnes() {
        Host host = new HostStatus(Host.newBuilder().setId("id").build(), dir, TestStats.idle(), 0).get();

        assertThat(host.getHostname()).isNotEmpty();
    }

    @Test
    void theDistributionVersionIsOsReleasesVersionId() {
        assertThat(HostPlatform.osReleaseVersion(List.of("NAME=\"Debian GNU/Linux\"", "VERSION_ID=\"12\"", "ID=debian")))
                .isEqualTo("12");
        assertThat(HostPlatform.osReleaseVersion(List.of("VERSION_ID=22.04"))).isEqualTo("22.04");
        assertThat(HostPlatform.osReleaseVersion(List.of("ID=arch"))).isEmpty();
    }
}
