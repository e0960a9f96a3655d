package dev.pollen.agent.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {
    private final ConfigLoader loader = new ConfigLoader();

    @TempDir
    Path dir;

    @Test
    void startsFromTheEmbeddedDefault() {
        DaemonConfig c = loader.load(null, Map.of(), Map.of());
        assertThat(c.download().server().socketPath()).isEqualTo(Path.of("/var/run/pollen/dfdaemon.sock"));
        assertThat(c.download().server().socketModeBits()).isEqualTo(0660);
        assertThat(c.download().concurrentPieceCount()).isEqualTo(8);
        assertThat(c.gc().policy().taskTTL()).isEqualTo(Duration.ofHours(6));
    }

    @Test
    void layersFileThenEnvironmentThenFlags() throws Exception {
        Path file = dir.resolve("dfdaemon.yaml");
        Files.writeString(file, """
                download:
                  concurrentPieceCount: 4
                  pieceTimeout: 1m30s
                storage:
                  dir: /data/pollen
                """);
        DaemonConfig c = loader.load(file,
                Map.of("DFDAEMON_DOWNLOAD_CONCURRENTPIECECOUNT", "6", "PATH", "/bin"),
                Map.of("download.server.socketPath", "/run/x.sock"));
        assertThat(c.download().concurrentPieceCount()).isEqualTo(6);
        assertThat(c.download().pieceTimeout()).isEqualTo(Duration.ofSeconds(90));
        assertThat(c.storage().dir()).isEqualTo(Path.of("/data/pollen"));
        assertThat(c.download().server().socketPath()).isEqualTo(Path.of("/run/x.sock"));
    }

    @Test
    void flagsAreCaseInsensitiveOnKeys() {
        DaemonConfig c = loader.load(null, Map.of(), Map.of("download.concurrentpiececount", "3"));
        assertThat(c.download().concurrentPieceCount()).isEqualTo(3);
    }

    @Test
    void rejectsAnOutOfRangeValueNamingTheKey() {
        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("download.concurrentPieceCount", "0")))
                .isInstanceOf(ConfigException.class)
                .hasMessage("download.concurrentPieceCount: 0 (expected: 1..64)");
    }

    @Test
    void schedulerReannounceLimitDefaultsToAThousandAndIsBounded() {
        assertThat(loader.load(null, Map.of(), Map.of()).scheduler().reannounceLimit()).isEqualTo(1000);
        assertThat(loader.load(null, Map.of(), Map.of("scheduler.reannounceLimit", "0")).scheduler().reannounceLimit()).isZero();
        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("scheduler.reannounceLimit", "-1")))
                .isInstanceOf(ConfigException.class)
                .hasMessage("scheduler.reannounceLimit: -1 (expected: 0..100000)");
    }

    @Test
    void rejectsAValueOfTheWrongType() {
        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("download.pieceTimeout", "soon")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("download.pieceTimeout")
                .hasMessageContaining("soon")
                .hasMessageContaining("a duration such as 30s");
        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("download.concurrentPieceCount", "many")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("download.concurrentPieceCount");
    }

    @Test
    void rejectsUnknownKeysInTheFile() throws Exception {
        Path file = dir.resolve("dfdaemon.yaml");
        Files.writeString(file, "download:\n  concurrentPeiceCount: 4\n");
        assertThatThrownBy(() -> loader.load(file, Map.of(), Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("unknown key download.concurrentPeiceCount");
    }

    @Test
    void rejectsUnknownFlagsAndEnvironmentVariables() {
        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("download.nope", "1")))
                .hasMessageContaining("unknown flag --download.nope");
        assertThatThrownBy(() -> loader.load(null, Map.of("DFDAEMON_NOPE", "1"), Map.of()))
                .hasMessageContaining("DFDAEMON_NOPE");
    }

    @Test
    void rejectsAMissingFileAndInvalidYaml() throws Exception {
        assertThatThrownBy(() -> loader.load(dir.resolve("missing.yaml"), Map.of(), Map.of()))
                .hasMessageContaining("does not exist");
        Path bad = dir.resolve("bad.yaml");
        Files.writeString(bad, "download: [unclosed");
        assertThatThrownBy(() -> loader.load(bad, Map.of(), Map.of())).hasMessageContaining("not valid YAML");
    }

    @Test
    void crossChecksGcWatermarks() {
        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("gc.policy.distLowThresholdPercent", "90")))
                .hasMessage("gc.policy.distLowThresholdPercent: 90 (expected: below gc.policy.distHighThresholdPercent (80))");
    }

    @Test
    void refusesAWorldWritableSocketAndRelativePaths() {
        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("download.server.socketMode", "0666")))
                .hasMessageContaining("not world-writable");
        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("storage.dir", "relative/dir")))
                .hasMessage("storage.dir: relative/dir (expected: an absolute path)");
    }

    @Test
    void schedulerAddressesTakeACommaSeparatedListFromFlagsAndVariables() {
        DaemonConfig none = loader.load(null, Map.of(), Map.of());
        assertThat(none.scheduler().enabled()).isFalse();
        DaemonConfig two = loader.load(null, Map.of("DFDAEMON_SCHEDULER_ADDRESSES", "s1:8002, s2:8002"), Map.of());
        assertThat(two.scheduler().addresses()).containsExactly("s1:8002", "s2:8002");
        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("scheduler.addresses", "no-port")))
                .hasMessage("scheduler.addresses: no-port (expected: host:port entries, e.g. scheduler.pollen:8002)");
    }

    @Test
    void refusesTheSamePortForUploadsAndPieces() {
        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("storage.server.tcpPort", "4000")))
                .hasMessageContaining("storage.server.tcpPort: 4000 (expected: a port other than upload.server.port (4000))");
        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("host.ip", "not an ip")))
                .hasMessageContaining("host.ip");
    }

    @Test
    void readsTheUploadRateLimitAsASize() {
        assertThat(loader.load(null, Map.of(), Map.of()).upload().rateLimit().bytes()).isZero();
        assertThat(loader.load(null, Map.of(), Map.of("upload.rateLimit", "100MiB")).upload().rateLimit().bytes())
                .isEqualTo(100L << 20);
        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("upload.rateLimit", "fast")))
                .hasMessageContaining("upload.rateLimit").hasMessageContaining("a size such as 10GiB");
    }

    @Test
    void readsTheUploadConcurrencyLimitDerivedByDefaultAndRefusesANegativeOne() {
        assertThat(loader.load(null, Map.of(), Map.of()).upload().concurrentPieceLimit()).as("0: derived").isZero();
        assertThat(loader.load(null, Map.of(), Map.of("upload.concurrentPieceLimit", "6")).upload().concurrentPieceLimit()).isEqualTo(6);
        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("upload.concurrentPieceLimit", "-1")))
                .hasMessageContaining("upload.concurrentPieceLimit");
    }

    @Test
    void aSeedPeerKeepsContentUnderItsOwnTtlAndQuota() {
        DaemonConfig normal = loader.load(null, Map.of(), Map.of("gc.policy.taskTTL", "1h", "gc.policy.diskQuota", "10GiB"));
        assertThat(normal.gcPolicy().taskTTL()).isEqualTo(java.time.Duration.ofHours(1));
        assertThat(normal.gcPolicy().diskQuota().bytes()).isEqualTo(10L << 30);

        DaemonConfig seed = loader.load(null, Map.of(), Map.of("seedPeer.enable", "true", "gc.policy.taskTTL", "1h",
                "seedPeer.gc.policy.taskTTL", "72h", "seedPeer.gc.policy.diskQuota", "500GiB", "gc.policy.distHighThresholdPercent", "90"));
        assertThat(seed.gcPolicy().taskTTL()).isEqualTo(java.time.Duration.ofHours(72));
        assertThat(seed.gcPolicy().diskQuota().bytes()).isEqualTo(500L << 30);
        assertThat(seed.gcPolicy().distHighThresholdPercent()).isEqualTo(90);

        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("seedPeer.gc.policy.diskQuota", "0")))
                .hasMessageContaining("seedPeer.gc.policy.diskQuota");
    }

    @Test
    void listsEveryKey() {
        assertThat(loader.keys()).contains("download.server.socketPath", "gc.policy.diskQuota", "storage.dir");
    }
}
