package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.TemplateCommand;
import dev.pollen.e2e.registry.Commands;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Helm chart's pods, run: helm renders the scheduler's StatefulSet and the agent's DaemonSet (this machine's
 * paths, free ports), podman plays the scheduler's pod (a read-only root, the probes' paths) and the agent's pod (both init containers, the hostPath socket directory and store, the ConfigMap, a read-only
 * root, the agent's user and the socket's group, the host network), and the chart's example dfget pod downloads
 * through the node's socket directory into the node's output directory, as any pod of the cluster would, while the
 * same pod without the socket's group is refused. The helm module checks what the chart
 * renders; this checks that what it renders runs.
 */
class ChartAgentPodTest {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    /** Not the agent's user (1000), so only the socket's group lets the dfget pod (user 65532) in. */
    private static final int SOCKET_GROUP = 2000;

    @RegisterExtension
    static final Nginx origin = new Nginx();

    private static TestFiles.TestFile file;

    @TempDir
    Path dir;

    private final List<String> pods = new ArrayList<>();

    @BeforeAll
    static void loadImage() {
        Podman.loadImage();
        file = origin.createFile("chart.bin", 8 * MiB, 11);
    }

    @AfterEach
    void removePods() {
        for (String pod : pods) {
            Podman.run("pod", "rm", "-f", pod);
        }
    }

    @Test
    void agentPodServesTheExampleDfgetPodThroughTheNodesSocketDirectory() throws Exception {
        // The chart's scheduler pod, on the host's network here (a pod network is not reachable from this test the
        // way a cluster's is); the agent finds it through scheduler.externalAddresses instead of the cluster's DNS.
        int grpc = freePort();
        int schedulerMetrics = freePort();
        List<ObjectNode> schedulerRender = render(Map.of("image.repository", "localhost/pollen", "image.tag", "0.1.0-SNAPSHOT",
                "agent.enable", false, "seedPeer.enable", false, "scheduler.replicas", 1,
                "scheduler.port", grpc, "scheduler.metricsPort", schedulerMetrics));
        ObjectNode schedulerPod = podOf(find(schedulerRender, "StatefulSet", "pollen-scheduler"));
        ((ObjectNode) schedulerPod.get("spec")).put("hostNetwork", true);
        play(List.of(forPodman(schedulerPod)));
        HttpClient http = HttpClient.newHttpClient();
        awaitOk(http, schedulerMetrics, "/healthy");
        assertThat(status(http, schedulerMetrics, "/livez")).as("the scheduler's liveness probe's path").isEqualTo(200);
        assertThat(Podman.run("exec", "pollen-scheduler-scheduler", "touch", "/opt/pollen/x").err()).contains("Read-only file system");

        Path node = dir.resolve("node");
        Path certsDir = Files.createDirectories(node.resolve("etc/containerd/certs.d"));
        Path containerdConfig = Files.writeString(node.resolve("etc/containerd/config.toml"),
                "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"" + certsDir + "\"\n");
        Map<String, Object> values = new LinkedHashMap<>();
        values.put("image.repository", "localhost/pollen");
        values.put("image.tag", "0.1.0-SNAPSHOT");
        values.put("scheduler.enable", false);
        values.put("scheduler.externalAddresses[0]", "127.0.0.1:" + grpc);
        values.put("seedPeer.enable", false);
        values.put("agent.socketDir", node.resolve("run/pollen").toString());
        values.put("agent.dataDir", node.resolve("var/lib/pollen").toString());
        Path outputDir = node.resolve("var/lib/pollen-output");
        values.put("agent.outputDir", outputDir.toString());
        values.put("agent.runAsUser", 1000);
        values.put("agent.socket.group", SOCKET_GROUP);
        values.put("agent.containerd.certsDir", certsDir.toString());
        values.put("agent.containerd.configFile", containerdConfig.toString());
        int health = freePort();
        int proxy = freePort();
        int metrics = freePort();
        values.put("agent.config.upload.server.port", freePort());
        values.put("agent.config.storage.server.tcpPort", freePort());
        values.put("agent.config.proxy.server.port", proxy);
        values.put("agent.config.metrics.server.port", metrics);
        values.put("agent.config.health.server.port", health);
        values.put("examples.dfgetPod", true);
        values.put("tests.url", origin.url("chart.bin"));
        List<ObjectNode> objects = render(values);

        ObjectNode configMap = find(objects, "ConfigMap", "pollen-agent");
        ObjectNode agentPod = forPodman(podOf(find(objects, "DaemonSet", "pollen-agent")));
        play(List.of(configMap, agentPod));

        awaitOk(http, health, "/healthy");
        assertThat(status(http, health, "/livez")).as("the liveness probe's path").isEqualTo(200);
        await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() -> http.send(get(metrics, "/metrics"),
                HttpResponse.BodyHandlers.ofString()).body().contains("pollen_scheduler_connected 1"));

        // prepare-dirs: the socket directory is the agent's user's, setgid to the socket's group, closed to others.
        Path socketDir = node.resolve("run/pollen");
        assertThat(Files.getAttribute(socketDir, "unix:uid")).isEqualTo(1000);
        assertThat(Files.getAttribute(socketDir, "unix:gid")).isEqualTo(SOCKET_GROUP);
        assertThat((int) Files.getAttribute(socketDir, "unix:mode") & 07777).isEqualTo(02750);
        Path socket = socketDir.resolve("dfdaemon.sock");
        assertThat((int) Files.getAttribute(socket, "unix:mode") & 0777).isEqualTo(0660);
        assertThat(Files.getAttribute(socket, "unix:gid")).isEqualTo(SOCKET_GROUP);
        // containerd-config: the node's certs.d points at this agent's mirror.
        assertThat(certsDir.resolve("docker.io/hosts.toml")).content().contains("[host.\"http://127.0.0.1:" + proxy + "\"]");
        assertThat(certsDir.resolve("_default/hosts.toml")).exists();

        String agent = "pollen-agent-dfdaemon";
        assertThat(Podman.check("exec", agent, "id", "-u").out().strip()).isEqualTo("1000");
        assertThat(Podman.run("exec", agent, "touch", "/opt/pollen/x").err()).contains("Read-only file system");

        ObjectNode example = find(objects, "Pod", "pollen-example-dfget");
        play(List.of(forPodman(example.deepCopy())));
        assertThat(awaitExit("pollen-example-dfget-dfget")).as(Podman.logs("pollen-example-dfget-dfget")).isZero();
        assertThat(Podman.logs("pollen-example-dfget-dfget")).contains("downloaded 8.0 MiB");
        Path output = outputDir.resolve("pollen-example-dfget.out");
        assertThat(TestFiles.sha256(output)).isEqualTo(file.sha256());
        assertThat(Files.getAttribute(output, "unix:gid")).as("the output directory's group").isEqualTo(SOCKET_GROUP);

        ObjectNode outsider = forPodman(example.deepCopy());
        ((ObjectNode) outsider.get("metadata")).put("name", "pollen-outsider");
        ((ObjectNode) outsider.path("spec").path("securityContext")).remove("supplementalGroups");
        play(List.of(outsider));
        assertThat(awaitExit("pollen-outsider-dfget")).as("dfget without the socket's group").isEqualTo(3);
        assertThat(Podman.logs("pollen-outsider-dfget")).contains("permission denied (fix: run dfget in the socket's group");
    }

    private static HttpRequest get(int port, String path) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build();
    }

    private static int status(HttpClient http, int port, String path) throws IOException, InterruptedException {
        return http.send(get(port, path), HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    private static void awaitOk(HttpClient http, int port, String path) {
        await().atMost(Duration.ofSeconds(90)).ignoreExceptions().until(() -> status(http, port, path) == 200);
    }

    private static List<ObjectNode> render(Map<String, Object> values) throws IOException {
        TemplateCommand template = new Helm(Pollen.home().resolve("helm/pollen")).template().withName("pollen")
                .withNamespace("pollen-system").withKubeVersion("1.31.0");
        values.forEach(template::set);
        List<ObjectNode> objects = new ArrayList<>();
        try (var docs = YAML.readerFor(ObjectNode.class).<ObjectNode>readValues(template.call())) {
            while (docs.hasNext()) {
                ObjectNode doc = docs.next();
                if (doc != null && doc.has("kind")) {
                    objects.add(doc);
                }
            }
        }
        return objects;
    }

    private static ObjectNode find(List<ObjectNode> objects, String kind, String name) {
        return objects.stream().filter(o -> o.path("kind").asText().equals(kind) && o.at("/metadata/name").asText().equals(name))
                .findFirst().orElseThrow(() -> new AssertionError("the chart rendered no " + kind + " " + name));
    }

    /** The pod a DaemonSet runs on a node: its template, as a Pod named after it. */
    private static ObjectNode podOf(ObjectNode daemonSet) {
        ObjectNode pod = YAML.createObjectNode().put("apiVersion", "v1").put("kind", "Pod");
        ObjectNode metadata = ((ObjectNode) daemonSet.at("/spec/template/metadata")).deepCopy();
        metadata.put("name", daemonSet.at("/metadata/name").asText());
        pod.set("metadata", metadata);
        pod.set("spec", daemonSet.at("/spec/template/spec").deepCopy());
        return pod;
    }

    /**
     * What podman 4.3's kube play cannot take as Kubernetes does, and nothing else: annotation values over 63
     * characters (the sha256 checksum; Kubernetes has no such limit), container ports beside the host network
     * (Kubernetes takes them as the host's), the downward API (host.ip: the loopback here), and a restart policy
     * other than Never (podman would restart the finished init containers; the kubelet never does).
     */
    private static ObjectNode forPodman(ObjectNode pod) {
        ((ObjectNode) pod.get("metadata")).remove("annotations");
        ObjectNode spec = (ObjectNode) pod.get("spec");
        spec.put("restartPolicy", "Never");
        for (JsonNode c : spec.path("containers")) {
            ObjectNode container = (ObjectNode) c;
            if (spec.path("hostNetwork").asBoolean()) {
                container.remove("ports");
            }
            // podman runs the probes as curl inside the image, which has none; the test asks /healthy itself.
            container.remove(List.of("startupProbe", "readinessProbe", "livenessProbe"));
            for (JsonNode e : container.path("env")) {
                if (e.has("valueFrom")) {
                    ((ObjectNode) e).remove("valueFrom");
                    ((ObjectNode) e).put("value", "127.0.0.1");
                }
            }
        }
        return pod;
    }

    private void play(List<ObjectNode> objects) throws IOException {
        StringBuilder yaml = new StringBuilder();
        for (ObjectNode o : objects) {
            yaml.append("---\n").append(YAML.writeValueAsString(o).replaceFirst("^---\n", ""));
            if (o.path("kind").asText().equals("Pod")) {
                String name = o.at("/metadata/name").asText();
                // A run killed before its clean-up left this pod behind: its name would be taken.
                Podman.run("pod", "rm", "-f", name);
                pods.add(name);
            }
        }
        Path file = Files.writeString(Files.createTempFile(dir, "kube", ".yaml"), yaml);
        Podman.check("kube", "play", file.toString());
    }

    /** The exit code of a container that runs to its end. */
    private static int awaitExit(String container) {
        Commands.Result waited = Podman.check("wait", container);
        return Integer.parseInt(waited.out().strip());
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
