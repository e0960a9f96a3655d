package dev.pollen.helm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.entry;

import com.fasterxml.jackson.databind.JsonNode;
import dev.pollen.agent.config.ByteSize;
import dev.pollen.agent.config.ConfigLoader;
import dev.pollen.agent.config.DaemonConfig;
import dev.pollen.scheduler.SchedulerCommand;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import picocli.CommandLine;
import picocli.CommandLine.ParseResult;

/**
 * What the chart tells the agent, the seed peers and the scheduler: dfdaemon.yaml files the agent's own
 * ConfigLoader accepts, schedulers found through the headless Service, and every port in agreement.
 */
class RenderedConfigTest {
    @TempDir
    Path dir;

    static Stream<Rendering> renderings() {
        return Rendering.both();
    }

    /** Loads it as the pods do: the file, and host.ip from the downward API through DFDAEMON_HOST_IP. */
    private DaemonConfig load(String yaml) throws IOException {
        Path file = Files.writeString(dir.resolve("dfdaemon.yaml"), yaml);
        return new ConfigLoader().load(file, Map.of("DFDAEMON_HOST_IP", "10.1.2.3"), Map.of());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void agentConfigIsOneTheAgentAccepts(Rendering r) throws IOException {
        DaemonConfig config = load(r.manifests().dfdaemonYaml("agent"));
        assertThat(config.seedPeer().enable()).isFalse();
        assertThat(config.proxy().server().enable()).isTrue();
        assertThat(config.download().server().socketModeBits())
                .isEqualTo(Integer.parseInt(r.value("agent.socket.mode").asText(), 8));
        assertThat(config.upload().server().port()).isEqualTo(r.value("agent.config.upload.server.port").asInt());
        assertThat(config.host().ip()).isEqualTo("10.1.2.3");
        boolean tls = r.value("tls.enable").asBoolean();
        assertThat(config.upload().server().tls().isPresent()).as("upload.server TLS files").isEqualTo(tls);
        assertThat(config.upload().client().tls().isPresent()).as("upload.client TLS files").isEqualTo(tls);
        assertThat(config.scheduler().tls()).isEqualTo(tls);
        if (tls) {
            assertThat(config.upload().server().cert()).isEqualTo("/etc/pollen/tls/tls.crt");
            assertThat(config.upload().client().key()).isEqualTo("/etc/pollen/tls/tls.key");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void seedPeerConfigIsASeedsThatTheAgentAccepts(Rendering r) throws IOException {
        DaemonConfig config = load(r.manifests().dfdaemonYaml("seed-peer"));
        assertThat(config.seedPeer().enable()).isTrue();
        assertThat(config.proxy().server().enable()).as("a seed peer serves no containerd").isFalse();
        assertThat(config.gcPolicy().diskQuota())
                .isEqualTo(ByteSize.parse(r.value("seedPeer.config.seedPeer.gc.policy.diskQuota").asText()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void agentsAndSeedsFindEverySchedulerThroughTheHeadlessService(Rendering r) throws IOException {
        Service service = r.manifests().service("scheduler");
        assertThat(service.getSpec().getClusterIP()).isEqualTo("None");
        int grpc = port(service, "grpc");
        String name = PollenChart.RELEASE + "-scheduler." + PollenChart.NAMESPACE + ".svc.cluster.local:" + grpc;
        assertThat(load(r.manifests().dfdaemonYaml("agent")).scheduler().addresses()).containsExactly(name);
        assertThat(load(r.manifests().dfdaemonYaml("seed-peer")).scheduler().addresses()).containsExactly(name);
        StatefulSet scheduler = r.manifests().statefulSet("scheduler");
        assertThat(scheduler.getSpec().getServiceName()).isEqualTo(service.getMetadata().getName());
        assertThat(scheduler.getSpec().getReplicas()).isEqualTo(r.value("scheduler.replicas").asInt());
        assertThat(service.getSpec().getSelector()).containsAllEntriesOf(scheduler.getSpec().getTemplate().getMetadata().getLabels());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void schedulerListensWhereItsServiceAndProbesPoint(Rendering r) {
        PodSpec pod = r.manifests().statefulSet("scheduler").getSpec().getTemplate().getSpec();
        Container scheduler = Pods.container(pod, "scheduler");
        assertThat(scheduler.getCommand()).containsExactly("/opt/pollen/bin/scheduler");
        ParseResult parsed = new CommandLine(new SchedulerCommand()).parseArgs(scheduler.getArgs().toArray(String[]::new));
        int grpc = parsed.matchedOptionValue("--port", 0);
        int metrics = parsed.matchedOptionValue("--metrics-port", 0);
        assertThat(grpc).isEqualTo(r.value("scheduler.port").asInt());
        assertThat(metrics).isEqualTo(r.value("scheduler.metricsPort").asInt());
        assertThat(Pods.ports(scheduler)).containsOnly(entry("grpc", grpc), entry("metrics", metrics));
        Service service = r.manifests().service("scheduler");
        assertThat(port(service, "grpc")).isEqualTo(grpc);
        assertThat(port(service, "metrics")).isEqualTo(metrics);
        assertThat(scheduler.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/healthy");
        assertThat(scheduler.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/livez");
        assertThat(scheduler.getReadinessProbe().getHttpGet().getPort().getStrVal()).isEqualTo("metrics");
        assertThat(scheduler.getLivenessProbe().getHttpGet().getPort().getStrVal()).isEqualTo("metrics");
        assertThat(scheduler.getStartupProbe().getHttpGet().getPort().getStrVal()).isEqualTo("metrics");
        assertThat(scheduler.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
        assertMemoryLimitSizesTheHeap(scheduler, r.value("scheduler.maxRAMPercentage"));
        assertThat(Pods.env(scheduler, "POLLEN_JAVA_OPTS")).as("the whole heap from the start, as its launcher does")
                .contains("-XX:InitialRAMPercentage=" + r.value("scheduler.maxRAMPercentage").asText());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void seedPeersKeepTheirStoreOnAVolumeClaimAndListenWhereTheirConfigSays(Rendering r) {
        StatefulSet seeds = r.manifests().statefulSet("seed-peer");
        assertThat(seeds.getSpec().getReplicas()).isEqualTo(r.value("seedPeer.replicas").asInt());
        assertThat(seeds.getSpec().getVolumeClaimTemplates()).singleElement().satisfies(pvc -> {
            assertThat(pvc.getMetadata().getName()).isEqualTo("data");
            assertThat(pvc.getSpec().getResources().getRequests().get("storage").toString())
                    .isEqualTo(r.value("seedPeer.persistence.size").asText());
        });
        PodSpec pod = seeds.getSpec().getTemplate().getSpec();
        Container dfdaemon = Pods.container(pod, "dfdaemon");
        JsonNode cfg = Manifests.read(r.manifests().dfdaemonYaml("seed-peer"));
        assertThat(Pods.mount(dfdaemon, "data").getMountPath()).isEqualTo(cfg.at("/storage/dir").asText());
        Map<String, Integer> ports = Map.of(
                "upload", cfg.at("/upload/server/port").asInt(),
                "vortex", cfg.at("/storage/server/tcpPort").asInt(),
                "metrics", cfg.at("/metrics/server/port").asInt(),
                "health", cfg.at("/health/server/port").asInt());
        assertThat(Pods.ports(dfdaemon)).isEqualTo(ports);
        Service service = r.manifests().service("seed-peer");
        assertThat(service.getSpec().getPorts().stream().collect(Collectors.toMap(ServicePort::getName, ServicePort::getPort)))
                .containsOnly(entry("upload", ports.get("upload")), entry("vortex", ports.get("vortex")), entry("metrics", ports.get("metrics")));
        assertThat(dfdaemon.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/healthy");
        assertThat(dfdaemon.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/livez");
        assertThat(ports.get(dfdaemon.getReadinessProbe().getHttpGet().getPort().getStrVal())).isEqualTo(ports.get("health"));
        assertThat(ports.get(dfdaemon.getLivenessProbe().getHttpGet().getPort().getStrVal())).isEqualTo(ports.get("health"));
        assertThat(dfdaemon.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
        assertThat(dfdaemon.getEnv()).filteredOn(e -> e.getName().equals("DFDAEMON_HOST_IP")).singleElement()
                .satisfies(e -> assertThat(e.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("status.podIP"));
        assertMemoryLimitSizesTheHeap(dfdaemon, r.value("seedPeer.maxRAMPercentage"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void everyPollenContainerLogsInTheChosenFormat(Rendering r) {
        Stream<Container> containers = Stream.of(
                Pods.container(r.manifests().daemonSet("agent").getSpec().getTemplate().getSpec(), "dfdaemon"),
                Pods.container(r.manifests().statefulSet("seed-peer").getSpec().getTemplate().getSpec(), "dfdaemon"),
                Pods.container(r.manifests().statefulSet("scheduler").getSpec().getTemplate().getSpec(), "scheduler"));
        assertThat(containers).allSatisfy(c ->
                assertThat(Pods.env(c, "POLLEN_LOG_FORMAT")).as(c.getName()).isEqualTo(r.value("logFormat").asText()));
    }

    private static void assertMemoryLimitSizesTheHeap(Container c, JsonNode percent) {
        assertThat(c.getResources().getRequests().get("memory")).isNotNull()
                .isEqualTo(c.getResources().getLimits().get("memory"));
        assertThat(Pods.env(c, "POLLEN_JAVA_OPTS")).contains("-XX:MaxRAMPercentage=" + percent.asText()).doesNotContain("-Xmx");
    }

    private static int port(Service service, String name) {
        return service.getSpec().getPorts().stream().filter(p -> p.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no port " + name + " on Service " + service.getMetadata().getName()))
                .getPort();
    }
}
