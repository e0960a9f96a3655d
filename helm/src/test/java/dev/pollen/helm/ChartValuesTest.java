package dev.pollen.helm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** How values change the rendered objects: config changes roll the pods, and values the agent could not run on fail the render. */
class ChartValuesTest {
    private static String agentChecksum(Manifests m) {
        return m.daemonSet("agent").getSpec().getTemplate().getMetadata().getAnnotations().get("checksum/config");
    }

    private static String seedChecksum(Manifests m) {
        StatefulSet seeds = m.statefulSet("seed-peer");
        return seeds.getSpec().getTemplate().getMetadata().getAnnotations().get("checksum/config");
    }

    @Test
    void aConfigChangeChangesTheChecksumSoThePodsRoll() {
        Manifests before = PollenChart.render();
        Manifests after = PollenChart.render(Map.of("agent.config.download.concurrentPieceCount", 4));
        assertThat(after.dfdaemonYaml("agent")).contains("concurrentPieceCount: 4");
        assertThat(agentChecksum(before)).isNotBlank().isNotEqualTo(agentChecksum(after));
        assertThat(seedChecksum(before)).as("the seeds share the agents' config").isNotBlank().isNotEqualTo(seedChecksum(after));
    }

    @Test
    void aChartValueThatIsNoConfigLeavesTheChecksumAlone() {
        Manifests before = PollenChart.render();
        Manifests after = PollenChart.render(Map.of("agent.maxUnavailable", 5, "seedPeer.replicas", 4));
        assertThat(agentChecksum(after)).isEqualTo(agentChecksum(before));
        assertThat(seedChecksum(after)).isEqualTo(seedChecksum(before));
    }

    @Test
    void aSeedPeerConfigChangeRollsOnlyTheSeeds() {
        Manifests before = PollenChart.render();
        Manifests after = PollenChart.render(Map.of("seedPeer.config.seedPeer.superSeeding", "1s"));
        assertThat(seedChecksum(after)).isNotEqualTo(seedChecksum(before));
        assertThat(agentChecksum(after)).isEqualTo(agentChecksum(before));
    }

    @Test
    void seedPeerConfigCanTurnOffWhatTheAgentsTurnOn() {
        Manifests m = PollenChart.render(Map.of("agent.config.upload.downloadTask.acceptPreheat", true,
                "seedPeer.config.upload.downloadTask.acceptPreheat", false));
        assertThat(Manifests.read(m.dfdaemonYaml("agent")).at("/upload/downloadTask/acceptPreheat").asBoolean()).isTrue();
        JsonNode seed = Manifests.read(m.dfdaemonYaml("seed-peer"));
        assertThat(seed.at("/upload/downloadTask/acceptPreheat").isBoolean()).isTrue();
        assertThat(seed.at("/upload/downloadTask/acceptPreheat").asBoolean()).isFalse();
        assertThat(seed.at("/upload/server/port").asInt()).as("the rest of agent.config stays").isEqualTo(4000);
    }

    @Test
    void refusesAMemoryRequestBelowTheLimitNamingTheFix() {
        assertThatThrownBy(() -> PollenChart.render(Map.of("agent.resources.requests.memory", "256Mi")))
                .hasMessageContaining("agent.resources: requests.memory 256Mi differs from limits.memory 768Mi (fix: make them equal");
        assertThatThrownBy(() -> PollenChart.render(Map.of("scheduler.resources.limits.memory", "2Gi")))
                .hasMessageContaining("scheduler.resources: requests.memory 1Gi differs from limits.memory 2Gi");
    }

    @Test
    void refusesAMisspelledKeyInsteadOfIgnoringIt() {
        assertThatThrownBy(() -> PollenChart.render(Map.of("agent.sockedDir", "/run/pollen")))
                .hasMessageContaining("sockedDir");
        assertThatThrownBy(() -> PollenChart.render(Map.of("agent.config.health.server.port", "4003x")))
                .hasMessageContaining("/agent/config/health/server/port").hasMessageContaining("want integer");
    }

    @Test
    void refusesASocketModeThatYamlReadAsANumber() {
        assertThatThrownBy(() -> PollenChart.render(Map.of("agent.socket.mode", 660)))
                .hasMessageContaining("agent.socket.mode: 660 (expected: a quoted octal mode such as \"0660\"");
    }

    @Test
    void refusesToPointContainerdAtAMirrorThatIsOff() {
        assertThatThrownBy(() -> PollenChart.render(Map.of("agent.config.proxy.server.enable", false)))
                .hasMessageContaining("agent.containerd.enable: true needs agent.config.proxy.server.enable: true");
        Manifests noContainerd = PollenChart.render(Map.of("agent.config.proxy.server.enable", false, "agent.containerd.enable", false));
        assertThat(noContainerd.daemonSet("agent").getSpec().getTemplate().getSpec().getInitContainers())
                .extracting(c -> c.getName()).containsExactly("prepare-dirs");
    }

    @Test
    void withoutItsOwnSchedulerTheAgentsUseTheExternalOnes() {
        Manifests m = PollenChart.render(Map.of("scheduler.enable", false, "scheduler.externalAddresses[0]", "scheduler.example:8002"));
        assertThat(m.has("StatefulSet") && m.all().stream().anyMatch(o -> o.getMetadata().getName().endsWith("-scheduler"))).isFalse();
        assertThat(Manifests.read(m.dfdaemonYaml("agent")).at("/scheduler/addresses/0").asText()).isEqualTo("scheduler.example:8002");
    }
}
