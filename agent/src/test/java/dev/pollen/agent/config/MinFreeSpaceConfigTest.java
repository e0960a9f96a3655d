package dev.pollen.agent.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

class MinFreeSpaceConfigTest {
    private final ConfigLoader loader = new ConfigLoader();

    private GcConfig.Policy policy(String value) {
        return loader.load(null, Map.of(), Map.of("gc.policy.minFreeSpace", value)).gcPolicy();
    }

    @Test
    void takesAShareOfTheDiskOrASize() {
        assertThat(loader.load(null, Map.of(), Map.of()).gcPolicy().minFreeSpace().bytesOf(1000L << 20)).isEqualTo(50L << 20);
        assertThat(policy("10%").minFreeSpace().bytesOf(1000)).isEqualTo(100);
        assertThat(policy("2GiB").minFreeSpace().bytesOf(1L << 40)).isEqualTo(2L << 30);
        assertThat(policy("0").minFreeSpace().bytesOf(1L << 40)).isZero();
    }

    @Test
    void refusesWhatIsNeitherWithTheKeyAndTheExpectedForm() {
        assertThatThrownBy(() -> policy("lots"))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("gc.policy.minFreeSpace: lots (expected: a share of the disk such as 5%");
        assertThatThrownBy(() -> policy("60%"))
                .isInstanceOf(ConfigException.class)
                .hasMessage("gc.policy.minFreeSpace: 60% (expected: at most 50% (or a size))");
    }
}
