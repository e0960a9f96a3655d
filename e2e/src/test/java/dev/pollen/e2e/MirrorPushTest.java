package dev.pollen.e2e;

import static dev.pollen.e2e.registry.OciImage.MiB;
import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.e2e.registry.Commands;
import dev.pollen.e2e.registry.OciImage;
import dev.pollen.e2e.registry.Registry;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A push through the agent's plain HTTP proxy, as a CI runner behind it would make one: skopeo with {@code HTTP_PROXY}
 * naming the node's mirror port sends the image to the distribution registry, layers larger than any buffer the
 * proxy could hold, and the registry gets every byte (the pushed image is then pulled back through the proxy, whole).
 */
class MirrorPushTest {
    private static final String PROXY = "http://127.0.0.1:4001";

    @RegisterExtension
    final Swarm swarm = new Swarm();

    @TempDir
    Path tmp;

    private Registry registry;

    @AfterEach
    void stop() {
        if (registry != null) {
            registry.close();
        }
    }

    @Test
    void anImagePushedThroughTheProxyReachesTheRegistryWholeAndPullsBack() throws Exception {
        OciImage image = OciImage.builder(tmp.resolve("image")).layers(40 * MiB, 12 * MiB).seed(23).build();
        swarm.withoutSeed().agents(0).start();
        registry = new Registry().inNamespace(swarm.network().add("reg")).start();
        Swarm.Node node = swarm.startAgent("ci", "--proxy.server.enable=true",
                "--proxy.registryMirror.insecureRegistries=" + registry.host());

        Commands.Result pushed = image.pushThrough(node.netns(), PROXY, registry, "team/pushed", "v1");

        assertThat(pushed.succeeded()).as(pushed + "\n" + swarm.report()).isTrue();
        List<Registry.Exchange> uploads = registry.exchanges().stream()
                .filter(e -> e.path().contains("/blobs/uploads/") && !e.method().equals("POST")).toList();
        assertThat(uploads).as("the registry's upload requests\n" + swarm.report()).isNotEmpty()
                .allSatisfy(e -> assertThat(e.client()).as("came through the node's proxy: %s", e).startsWith(node.ip()));
        assertThat(node.logLines("event=mirror_request method=P")).as(swarm.report()).isNotEmpty()
                .allMatch(l -> l.contains("route=passthrough") && !l.contains("status=5") && !l.contains("status=4"));

        // What the registry holds now is the image: pulled back through the proxy by digest, layer by layer.
        for (OciImage.Layer layer : image.manifest().layers()) {
            Commands.Result back = Commands.check(java.time.Duration.ofSeconds(60), node.netns().exec(List.of("curl", "-s",
                    "--proxy", PROXY, "http://" + registry.host() + "/v2/team/pushed/blobs/" + layer.digest(), "-o",
                    tmp.resolve("back.bin").toString(), "-w", "%{http_code}")));
            assertThat(back.out().strip()).isEqualTo("200");
            assertThat("sha256:" + TestFiles.sha256(tmp.resolve("back.bin"))).isEqualTo(layer.digest());
        }
    }
}
