package dev.pollen.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The objects behind values switches: absent by default, well formed when on. */
class OptionalObjectsTest {
    private static final Manifests DEFAULTS = PollenChart.render();
    private static final Manifests ALL = PollenChart.render(PollenChart.ALL_FEATURES, Map.of());

    @Test
    void defaultValuesRenderTheThreeComponentsAndNothingOptional() {
        assertThat(DEFAULTS.all()).extracting(HasMetadata::getKind)
                .doesNotContain("ServiceMonitor", "PrometheusRule", "NetworkPolicy", "Pod")
                .contains("DaemonSet", "StatefulSet", "Service", "ConfigMap");
        assertThat(DEFAULTS.all()).extracting(o -> o.getKind() + " " + o.getMetadata().getName()).containsExactlyInAnyOrder(
                "ConfigMap pollen-agent", "ConfigMap pollen-seed-peer", "Service pollen-scheduler", "Service pollen-seed-peer",
                "DaemonSet pollen-agent", "StatefulSet pollen-scheduler", "StatefulSet pollen-seed-peer");
    }

    @Test
    void everyFieldOfEveryObjectIsOneKubernetesKnows() {
        for (Manifests m : List.of(DEFAULTS, ALL)) {
            for (HasMetadata o : m.all()) {
                if (!(o instanceof GenericKubernetesResource)) {
                    assertThat(UnknownFields.of(o)).as("fields of %s %s unknown to Kubernetes", o.getKind(), o.getMetadata().getName()).isEmpty();
                }
            }
        }
    }

    @Test
    void serviceMonitorScrapesTheMetricsPortOfEveryComponentsService() {
        GenericKubernetesResource monitor = ALL.generic("ServiceMonitor", "");
        Map<String, Object> spec = monitor.get("spec");
        assertThat(monitor.<String>get("spec", "endpoints", 0, "port")).isEqualTo("metrics");
        assertThat(monitor.<String>get("spec", "endpoints", 0, "path")).isEqualTo("/metrics");
        assertThat(monitor.getMetadata().getLabels()).containsEntry("release", "kube-prometheus-stack");
        assertThat(spec).isNotNull();
        for (String component : List.of("agent", "seed-peer", "scheduler")) {
            Service service = ALL.service(component);
            assertThat(service.getSpec().getClusterIP()).isEqualTo("None");
            assertThat(service.getMetadata().getLabels()).containsAllEntriesOf(monitor.get("spec", "selector", "matchLabels"))
                    .containsEntry("app.kubernetes.io/component", component);
            assertThat(service.getSpec().getPorts()).anySatisfy(p -> assertThat(p.getName()).isEqualTo("metrics"));
        }
        int agentMetrics = Manifests.read(ALL.dfdaemonYaml("agent")).at("/metrics/server/port").asInt();
        assertThat(ALL.service("agent").getSpec().getPorts().getFirst().getPort()).isEqualTo(agentMetrics);
    }

    @Test
    void networkPoliciesAdmitOnlyPollensPortsToTheSchedulerAndSeeds() {
        JsonNode cfg = Manifests.read(ALL.dfdaemonYaml("seed-peer"));
        NetworkPolicy seeds = ALL.get(NetworkPolicy.class, "NetworkPolicy", "seed-peer");
        assertThat(seeds.getSpec().getPodSelector().getMatchLabels())
                .isEqualTo(ALL.statefulSet("seed-peer").getSpec().getSelector().getMatchLabels());
        assertThat(seeds.getSpec().getIngress()).flatExtracting(i -> i.getPorts()).extracting(p -> p.getPort().getIntVal())
                .containsExactlyInAnyOrder(cfg.at("/upload/server/port").asInt(), cfg.at("/storage/server/tcpPort").asInt(),
                        cfg.at("/health/server/port").asInt(), cfg.at("/metrics/server/port").asInt());
        assertThat(seeds.getSpec().getIngress().get(1).getFrom()).as("who may scrape").singleElement()
                .satisfies(peer -> assertThat(peer.getNamespaceSelector().getMatchLabels()).containsEntry("kubernetes.io/metadata.name", "monitoring"));
        NetworkPolicy scheduler = ALL.get(NetworkPolicy.class, "NetworkPolicy", "scheduler");
        assertThat(scheduler.getSpec().getPodSelector().getMatchLabels())
                .isEqualTo(ALL.statefulSet("scheduler").getSpec().getSelector().getMatchLabels());
        assertThat(scheduler.getSpec().getIngress()).flatExtracting(i -> i.getPorts()).extracting(p -> p.getPort().getIntVal())
                .containsExactlyInAnyOrder(18002, 18000);
    }

    @Test
    void grafanaDashboardIsJsonWithAPanelForEachTopic() {
        ConfigMap dashboard = ALL.get(ConfigMap.class, "ConfigMap", "dashboard");
        assertThat(dashboard.getMetadata().getLabels()).containsEntry("grafana_dashboard", "1");
        JsonNode json = Manifests.read(dashboard.getData().get("pollen.json"));
        assertThat(json.path("panels")).extracting(p -> p.path("title").asText()).contains(
                "Download traffic by source", "Hit ratio (bytes not from the origin)", "Back-to-source by reason",
                "Pieces per second by source", "Upload and download bandwidth", "Disk use per node (share of gc.policy.diskQuota)",
                "Scheduler decisions by result");
        json.path("panels").forEach(p -> assertThat(p.path("targets").path(0).path("expr").asText()).as(p.path("title").asText()).isNotBlank());
    }

    @Test
    void tlsSecretIsMountedReadOnlyInEveryPollenContainerAndNamedByTheirConfigWhenOn() {
        List<PodSpec> pods = List.of(ALL.daemonSet("agent").getSpec().getTemplate().getSpec(),
                ALL.statefulSet("seed-peer").getSpec().getTemplate().getSpec(),
                ALL.statefulSet("scheduler").getSpec().getTemplate().getSpec());
        for (PodSpec pod : pods) {
            assertThat(Pods.volume(pod, "tls").getSecret().getSecretName()).isEqualTo("pollen-mtls");
            Container main = pod.getContainers().getFirst();
            assertThat(Pods.mount(main, "tls").getMountPath()).isEqualTo("/etc/pollen/tls");
            assertThat(Pods.mount(main, "tls").getReadOnly()).isTrue();
        }
        assertThat(ALL.statefulSet("scheduler").getSpec().getTemplate().getSpec().getContainers().getFirst().getArgs())
                .contains("--tls-ca-cert=/etc/pollen/tls/ca.crt", "--tls-cert=/etc/pollen/tls/tls.crt", "--tls-key=/etc/pollen/tls/tls.key");
        assertThat(DEFAULTS.daemonSet("agent").getSpec().getTemplate().getSpec().getVolumes())
                .noneSatisfy(v -> assertThat(v.getName()).isEqualTo("tls"));
        assertThat(DEFAULTS.statefulSet("scheduler").getSpec().getTemplate().getSpec().getContainers().getFirst().getArgs())
                .noneMatch(a -> a.startsWith("--tls"));
    }

    @Test
    void exampleDfgetPodReachesTheAgentThroughTheNodesSocketDirectory() {
        Pod pod = ALL.get(Pod.class, "Pod", "example-dfget");
        PodSpec spec = pod.getSpec();
        Container dfget = spec.getContainers().getFirst();
        assertThat(dfget.getCommand().getFirst()).isEqualTo("/opt/pollen/bin/dfget");
        String endpoint = dfget.getCommand().stream().filter(a -> a.startsWith("--endpoint=")).findFirst().orElseThrow()
                .substring("--endpoint=".length());
        String socketPath = Manifests.read(ALL.dfdaemonYaml("agent")).at("/download/server/socketPath").asText();
        assertThat(endpoint).isEqualTo(socketPath);
        assertThat(Pods.mount(dfget, "socket-dir").getMountPath()).isEqualTo(Path.of(socketPath).getParent().toString());
        assertThat(Pods.volume(spec, "socket-dir").getHostPath().getPath()).isEqualTo("/run/pollen-sock");
        assertThat(spec.getSecurityContext().getSupplementalGroups()).containsExactly(2000L);
        // The agent writes the output file: its directory is the node's output directory, at the agent's path.
        assertThat(dfget.getCommand()).contains("--output=/data/pollen-output/pollen-example-dfget.out");
        assertThat(Pods.volume(spec, "output").getHostPath().getPath()).isEqualTo("/data/pollen-output");
        assertThat(Pods.mount(dfget, "output").getMountPath()).isEqualTo("/data/pollen-output");
        assertThat(dfget.getCommand()).contains("https://example.org/file.bin");
        assertThat(dfget.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
    }
}
