package dev.pollen.agent.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code upload.bandwidth}, {@code upload.slotWait} and the upload slots derived from the node's capacity. */
class UploadCapacityTest {
    private static final OptionalLong NO_LINK = OptionalLong.empty();
    private final ConfigLoader loader = new ConfigLoader();

    @TempDir
    Path dir;

    private UploadConfig upload(Map<String, String> flags) {
        return loader.load(null, Map.of(), flags).upload();
    }

    @Test
    void byDefaultTheBandwidthIsUnknownTheSlotsDerivedAndARequestWaitsAFifthOfASecond() {
        UploadConfig upload = upload(Map.of());
        assertThat(upload.bandwidth().known()).isFalse();
        assertThat(upload.concurrentPieceLimit()).isZero();
        assertThat(upload.slotWait()).isEqualTo(Duration.ofMillis(50));
        assertThat(UploadCapacity.of(upload, NO_LINK)).isEqualTo(new UploadCapacity(0, "unknown", 8));
    }

    @Test
    void oneSlotPer125MbitOfTheConfiguredBandwidthTwoToSixteen() {
        assertThat(UploadCapacity.of(upload(Map.of("upload.bandwidth", "400mbit")), NO_LINK))
                .isEqualTo(new UploadCapacity(400_000_000L, "upload.bandwidth", 3));
        assertThat(UploadCapacity.of(upload(Map.of("upload.bandwidth", "1gbit")), NO_LINK).slots()).isEqualTo(8);
        assertThat(UploadCapacity.of(upload(Map.of("upload.bandwidth", "100mbit")), NO_LINK).slots()).isEqualTo(2);
        assertThat(UploadCapacity.of(upload(Map.of("upload.bandwidth", "1kbit")), NO_LINK).slots()).isEqualTo(2);
        assertThat(UploadCapacity.of(upload(Map.of("upload.bandwidth", "100gbit")), NO_LINK).slots()).isEqualTo(16);
        assertThat(UploadCapacity.of(upload(Map.of("upload.bandwidth", "2500000000")), NO_LINK).bitsPerSecond())
                .isEqualTo(2_500_000_000L);
    }

    @Test
    void theRateLimitCountsInBitsAndTheSmallerConfiguredFigureWins() {
        assertThat(UploadCapacity.of(upload(Map.of("upload.rateLimit", "50MB")), NO_LINK))
                .isEqualTo(new UploadCapacity(400_000_000L, "upload.rateLimit", 3));
        assertThat(UploadCapacity.of(upload(Map.of("upload.rateLimit", "50MB", "upload.bandwidth", "10gbit")), NO_LINK))
                .isEqualTo(new UploadCapacity(400_000_000L, "upload.rateLimit", 3));
        assertThat(UploadCapacity.of(upload(Map.of("upload.rateLimit", "50MB", "upload.bandwidth", "200mbit")), NO_LINK))
                .isEqualTo(new UploadCapacity(200_000_000L, "upload.bandwidth", 2));
    }

    @Test
    void theLinkSpeedCountsOnlyWhenNothingIsConfigured() {
        OptionalLong tenGig = OptionalLong.of(10_000_000_000L);
        assertThat(UploadCapacity.of(upload(Map.of()), tenGig)).isEqualTo(new UploadCapacity(10_000_000_000L, "link", 16));
        // A tc shaper is invisible in the link speed; the configured figure knows it.
        assertThat(UploadCapacity.of(upload(Map.of("upload.bandwidth", "400mbit")), tenGig).bitsPerSecond())
                .isEqualTo(400_000_000L);
    }

    @Test
    void aConfiguredSlotCountIsTakenAsItIs() {
        assertThat(UploadCapacity.of(upload(Map.of("upload.concurrentPieceLimit", "5", "upload.bandwidth", "400mbit")),
                NO_LINK)).isEqualTo(new UploadCapacity(400_000_000L, "upload.bandwidth", 5));
    }

    @Test
    void refusesABandwidthThatIsNotARateAndASlotWaitOutOfRangeNamingTheKey() {
        assertThatThrownBy(() -> upload(Map.of("upload.bandwidth", "fast"))).isInstanceOf(ConfigException.class)
                .hasMessage("upload.bandwidth: fast (expected: bits per second such as 400mbit or 10gbit)");
        assertThatThrownBy(() -> upload(Map.of("upload.bandwidth", "400MiB"))).isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("upload.bandwidth: 400MiB (expected: ");
        assertThatThrownBy(() -> upload(Map.of("upload.slotWait", "20s"))).isInstanceOf(ConfigException.class)
                .hasMessage("upload.slotWait: 20s (expected: 0ms..10s)");
        assertThat(upload(Map.of("upload.slotWait", "0ms")).slotWait()).isZero();
    }

    @Test
    void derivedSlotsAreNeverCheckedAgainstTheVortexLoops() {
        DaemonConfig config = loader.load(null, Map.of(), Map.of("upload.bandwidth", "100mbit",
                "threads.vortexServerEventLoops", "8"));
        assertThat(config.conclude(new CpuBudget(8, "test")).vortexServerEventLoops()).isEqualTo(8);
    }

    @Test
    void readsTheKernelsLinkSpeedInMbitAndNothingForAVirtualOrDownLink() throws Exception {
        Files.createDirectories(dir.resolve("eth0"));
        Files.writeString(dir.resolve("eth0/speed"), "1000\n");
        Files.createDirectories(dir.resolve("down0"));
        Files.writeString(dir.resolve("down0/speed"), "-1\n");
        assertThat(LinkSpeed.read(dir, "eth0")).hasValue(1_000_000_000L);
        assertThat(LinkSpeed.read(dir, "down0")).isEmpty();
        assertThat(LinkSpeed.read(dir, "lo")).isEmpty();
        assertThat(LinkSpeed.of("127.0.0.1")).as("loopback reports no speed").isEmpty();
    }

    @Test
    void bitRatesReadAsTcWritesThem() {
        assertThat(BitRate.parse("400mbit").bitsPerSecond()).isEqualTo(400_000_000L);
        assertThat(BitRate.parse("10Gbit").bitsPerSecond()).isEqualTo(10_000_000_000L);
        assertThat(BitRate.parse("500kbit").toString()).isEqualTo("500kbit");
        assertThat(BitRate.parse("0").known()).isFalse();
    }
}
