package dev.pollen.simulator;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.agent.config.ConfigLoader;
import dev.pollen.agent.config.DaemonConfig;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The simulated agents run with the real agent's defaults: its embedded dfdaemon-default.yaml, loaded by its own loader. */
class AgentDefaultsTest {
    @Test
    void theSimulatorsDefaultsAreTheAgents() {
        DaemonConfig agent = new ConfigLoader().load(null, Map.of(), Map.of());
        assertThat(AgentDefaults.CONCURRENT_PIECES).isEqualTo(agent.download().concurrentPieceCount());
        assertThat(AgentDefaults.PIECE_TIMEOUT).isEqualTo(agent.download().pieceTimeout());
        assertThat(AgentDefaults.SLOT_WAIT).isEqualTo(agent.upload().slotWait());
        assertThat(AgentDefaults.SUPER_SEEDING).isEqualTo(agent.seedPeer().superSeeding());
        // upload.concurrentPieceLimit 0: the slots follow the uplink, as the simulator derives them
        assertThat(agent.upload().concurrentPieceLimit()).isZero();
    }
}
