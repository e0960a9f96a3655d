package dev.pollen.helm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.entry;

import com.fasterxml.jackson.databind.JsonNode;
import dev.pollen.agent.DfdaemonCommand;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HTTPGetAction;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Toleration;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import picocli.CommandLine;
import picocli.CommandLine.ParseResult;

/** The agent DaemonSet's invariants, with the default values and with every option on and every port moved. */
class AgentDaemonSetTest {
    static Stream<Rendering> renderings() {
        return Rendering.both();
    }

    private static PodSpec pod(Rendering r) {
        return r.manifests().daemonSet("agent").getSpec().getTemplate().getSpec();
    }

    private static JsonNode config(Rendering r) {
        return Manifests.read(r.manifests().dfdaemonYaml("agent"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void mountsTheSocketDirectoryFromTheNodeNeverTheSocketFile(Rendering r) {
        PodSpec pod = pod(r);
        Volume socketDir = Pods.volume(pod, "socket-dir");
        assertThat(socketDir.getEmptyDir()).isNull();
        assertThat(socketDir.getHostPath().getPath()).isEqualTo(r.value("agent.socketDir").asText());
        assertThat(socketDir.getHostPath().getType()).isEqualTo("DirectoryOrCreate");
        Path socket = Path.of(config(r).at("/download/server/socketPath").asText());
        assertThat(Pods.mount(Pods.container(pod, "dfdaemon"), "socket-dir").getMountPath())
                .isEqualTo(socket.getParent().toString());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void keepsTheTaskStoreOnTheNodeAcrossPodAndNodeRestarts(Rendering r) {
        PodSpec pod = pod(r);
        Volume data = Pods.volume(pod, "data");
        assertThat(data.getEmptyDir()).isNull();
        assertThat(data.getHostPath().getPath()).isEqualTo(r.value("agent.dataDir").asText());
        assertThat(data.getHostPath().getType()).isEqualTo("DirectoryOrCreate");
        assertThat(Pods.mount(Pods.container(pod, "dfdaemon"), "data").getMountPath())
                .isEqualTo(config(r).at("/storage/dir").asText());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void writesDfgetsOutputIntoANodeDirectoryAtTheSamePathAsOnTheNode(Rendering r) {
        PodSpec pod = pod(r);
        String outputDir = r.value("agent.outputDir").asText();
        Volume output = Pods.volume(pod, "output");
        assertThat(output.getHostPath().getPath()).isEqualTo(outputDir);
        assertThat(output.getHostPath().getType()).isEqualTo("DirectoryOrCreate");
        assertThat(Pods.mount(Pods.container(pod, "dfdaemon"), "output").getMountPath()).isEqualTo(outputDir);
        assertThat(Pods.container(pod, "prepare-dirs").getCommand().getLast()).contains("chmod 2770 " + outputDir);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void exposesExactlyThePortsItsConfigListensOn(Rendering r) {
        JsonNode cfg = config(r);
        assertThat(Pods.ports(Pods.container(pod(r), "dfdaemon"))).containsOnly(
                entry("upload", cfg.at("/upload/server/port").asInt()),
                entry("vortex", cfg.at("/storage/server/tcpPort").asInt()),
                entry("proxy", cfg.at("/proxy/server/port").asInt()),
                entry("metrics", cfg.at("/metrics/server/port").asInt()),
                entry("health", cfg.at("/health/server/port").asInt()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void probesAskTheHealthPortHealthyToStartAndServeAndLivezToLive(Rendering r) {
        Container dfdaemon = Pods.container(pod(r), "dfdaemon");
        int healthPort = config(r).at("/health/server/port").asInt();
        assertThat(dfdaemon.getStartupProbe().getHttpGet().getPath()).isEqualTo("/healthy");
        assertThat(dfdaemon.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/healthy");
        assertThat(dfdaemon.getLivenessProbe().getHttpGet().getPath()).as("only a wedged agent is restarted").isEqualTo("/livez");
        for (Probe probe : List.of(dfdaemon.getStartupProbe(), dfdaemon.getReadinessProbe(), dfdaemon.getLivenessProbe())) {
            HTTPGetAction get = probe.getHttpGet();
            assertThat(Pods.ports(dfdaemon).get(get.getPort().getStrVal())).isEqualTo(healthPort);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void runsOnEveryNodeOnTheHostNetworkAndIsEvictedLast(Rendering r) {
        DaemonSet ds = r.manifests().daemonSet("agent");
        PodSpec pod = ds.getSpec().getTemplate().getSpec();
        assertThat(pod.getHostNetwork()).isTrue();
        assertThat(pod.getDnsPolicy()).as("the Service name of the schedulers resolves from the host network")
                .isEqualTo("ClusterFirstWithHostNet");
        assertThat(pod.getPriorityClassName()).isEqualTo("system-node-critical");
        assertThat(pod.getTolerations()).extracting(Toleration::getOperator, Toleration::getKey, Toleration::getEffect)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("Exists", null, null));
        assertThat(ds.getSpec().getUpdateStrategy().getType()).isEqualTo("RollingUpdate");
        assertThat(ds.getSpec().getUpdateStrategy().getRollingUpdate().getMaxUnavailable().getValue().toString())
                .isEqualTo(r.value("agent.maxUnavailable").asText());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void announcesTheNodesAddressToPeers(Rendering r) {
        Container dfdaemon = Pods.container(pod(r), "dfdaemon");
        assertThat(dfdaemon.getEnv()).filteredOn(e -> e.getName().equals("DFDAEMON_HOST_IP")).singleElement()
                .satisfies(e -> assertThat(e.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("status.hostIP"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void runsWithTheSocketsGroupAsItsUserOnAReadOnlyRoot(Rendering r) {
        PodSpec pod = pod(r);
        Container dfdaemon = Pods.container(pod, "dfdaemon");
        assertThat(dfdaemon.getSecurityContext().getRunAsUser()).isEqualTo(r.value("agent.runAsUser").asLong());
        assertThat(dfdaemon.getSecurityContext().getRunAsGroup()).isEqualTo(r.value("agent.socket.group").asLong());
        assertThat(config(r).at("/download/server/socketMode").asText()).isEqualTo(r.value("agent.socket.mode").asText());
        for (Container c : Pods.allContainers(pod)) {
            assertThat(c.getSecurityContext().getReadOnlyRootFilesystem()).as("readOnlyRootFilesystem of %s", c.getName()).isTrue();
            assertThat(c.getSecurityContext().getAllowPrivilegeEscalation()).as("allowPrivilegeEscalation of %s", c.getName()).isFalse();
        }
        // The JVM, HOME and XDG_CACHE_HOME (the launchers' caches) write under /tmp.
        assertThat(Pods.volume(pod, Pods.mount(dfdaemon, "tmp").getName()).getEmptyDir()).isNotNull();
        assertThat(Pods.mount(dfdaemon, "tmp").getMountPath()).isEqualTo("/tmp");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void sizesTheHeapFromAMemoryLimitEqualToTheRequest(Rendering r) {
        for (Container c : Pods.allContainers(pod(r))) {
            assertThat(c.getResources().getRequests().get("memory")).as("memory request of %s", c.getName())
                    .isEqualTo(c.getResources().getLimits().get("memory")).isNotNull();
        }
        Container dfdaemon = Pods.container(pod(r), "dfdaemon");
        String javaOpts = Pods.env(dfdaemon, "POLLEN_JAVA_OPTS");
        assertThat(javaOpts).contains("-XX:MaxRAMPercentage=" + r.value("agent.maxRAMPercentage").asText())
                .doesNotContain("-Xmx");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void startsOnTheRenderedConfig(Rendering r) {
        PodSpec pod = pod(r);
        Container dfdaemon = Pods.container(pod, "dfdaemon");
        assertThat(dfdaemon.getCommand()).as("the image's entrypoint, dfdaemon").isEmpty();
        ParseResult parsed = new CommandLine(new DfdaemonCommand()).parseArgs(dfdaemon.getArgs().toArray(String[]::new));
        Path configPath = parsed.matchedOptionValue("--config", Path.of(""));
        assertThat(Pods.mount(dfdaemon, "config").getMountPath()).isEqualTo(configPath.getParent().toString());
        assertThat(Pods.mount(dfdaemon, "config").getSubPath()).as("a subPath mount never sees an update").isNull();
        assertThat(r.manifests().dfdaemonYaml("agent")).as("the ConfigMap's key is the file --config names").isNotBlank();
        assertThat(configPath.getFileName()).hasToString("dfdaemon.yaml");
        assertThat(Pods.volume(pod, "config").getConfigMap().getName()).isEqualTo(PollenChart.RELEASE + "-agent");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void pointsContainerdAtTheMirrorFromAnInitContainerThatRestartsNothing(Rendering r) {
        PodSpec pod = pod(r);
        Container init = Pods.container(pod, "containerd-config");
        assertThat(pod.getInitContainers()).contains(init);
        assertThat(init.getCommand()).as("dfdaemon, the image's entrypoint, and nothing else").isEmpty();
        ParseResult parsed = new CommandLine(new DfdaemonCommand()).parseArgs(init.getArgs().toArray(String[]::new));
        ParseResult setup = parsed.subcommand();
        assertThat(setup.commandSpec().name()).isEqualTo("containerd-config");
        String certsDir = r.value("agent.containerd.certsDir").asText();
        String configFile = r.value("agent.containerd.configFile").asText();
        assertThat(setup.matchedOptionValue("--certs-dir", Path.of("")).toString()).isEqualTo(certsDir);
        assertThat(setup.matchedOptionValue("--containerd-config", Path.of("")).toString()).isEqualTo(configFile);
        assertThat(setup.<String>matchedOptionValue("--mirror", null))
                .isEqualTo("http://127.0.0.1:" + config(r).at("/proxy/server/port").asInt());
        assertThat(setup.<String>matchedOptionValue("--dial-timeout", null)).isEqualTo(r.value("agent.containerd.dialTimeout").asText());
        assertThat(setup.<List<String>>matchedOptionValue("--registry", List.of())).containsExactlyElementsOf(texts(r.value("agent.containerd.registries")));
        assertThat(setup.hasMatchedOption("--uninstall")).isFalse();
        List<String> plain = texts(r.value("agent.containerd.plainHttp"));
        if (plain.isEmpty()) {
            assertThat(setup.hasMatchedOption("--plain-http")).isFalse();
        } else {
            assertThat(setup.<java.util.Set<String>>matchedOptionValue("--plain-http", java.util.Set.of())).containsExactlyElementsOf(plain);
        }
        // The node's paths, mounted where they are on the node: the command checks containerd's config_path against them.
        Volume certs = Pods.volume(pod, "containerd-certs");
        assertThat(certs.getHostPath().getPath()).isEqualTo(certsDir);
        assertThat(Pods.mount(init, "containerd-certs").getMountPath()).isEqualTo(certsDir);
        assertThat(Pods.volume(pod, "containerd-config").getHostPath().getPath()).isEqualTo(Path.of(configFile).getParent().toString());
        assertThat(Pods.mount(init, "containerd-config").getMountPath()).isEqualTo(Path.of(configFile).getParent().toString());
        assertThat(Pods.mount(init, "containerd-config").getReadOnly()).as("containerd's config is never changed").isTrue();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void givesTheNodeDirectoriesToTheAgentsUserBeforeItStarts(Rendering r) {
        PodSpec pod = pod(r);
        Container prepare = Pods.container(pod, "prepare-dirs");
        assertThat(pod.getInitContainers().getFirst()).isEqualTo(prepare);
        String script = prepare.getCommand().getLast();
        String owner = r.value("agent.runAsUser").asText() + ":" + r.value("agent.socket.group").asText();
        assertThat(script).contains("chown " + owner + " /var/run/pollen", "chown -h " + owner);
        assertThat(Pods.mount(prepare, "socket-dir").getMountPath()).isEqualTo("/var/run/pollen");
        assertThat(Pods.mount(prepare, "data").getMountPath()).isEqualTo("/var/lib/pollen");
    }

    private static List<String> texts(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }
}
