package dev.pollen.e2e;

import static dev.pollen.e2e.registry.OciImage.MiB;
import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.e2e.registry.Commands;
import dev.pollen.e2e.registry.Containerd;
import dev.pollen.e2e.registry.OciImage;
import dev.pollen.e2e.registry.Registry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three nodes, each a network namespace with its own containerd and dfdaemon (mirror on its loopback, hosts.toml
 * written by {@code dfdaemon containerd-config}), one Pollen scheduler, the distribution registry in a namespace of
 * its own with its uplink capped: two nodes pull with ctr and one through the CRI, all at once; every pull gets the
 * image, and the registry sends each layer once for the whole cluster. A fourth node then pulls while the registry
 * refuses every blob: the layers come from the swarm. Ranges of a layer through a mirror are byte-exact 206s.
 * And a peer that forges its pieces (flipped bytes with a CRC-32 to match) is caught by the layer's sha256: the
 * mirror never hands the bad copy over as complete, and the next pull comes from the registry, right.
 */
class MirrorSwarmTest {
    private static final String MIRROR = "http://127.0.0.1:4001";

    @RegisterExtension
    final Swarm swarm = new Swarm();

    @TempDir
    Path tmp;

    private final List<Containerd> containerds = new ArrayList<>();
    private Registry registry;

    @AfterEach
    void stop() {
        containerds.forEach(Containerd::close);
        if (registry != null) {
            registry.close();
        }
    }

    @Test
    void threeNodesPullAtOnceAndTheRegistrySendsEachLayerOnceThenTheSwarmServesWhileItRefusesBlobs() throws Exception {
        OciImage image = OciImage.builder(tmp.resolve("image")).layers(24 * MiB, 20 * MiB, 8 * MiB).seed(21).build();
        assertThat(image.manifest().layerBytes()).isGreaterThanOrEqualTo(50 * MiB);
        swarm.withoutSeed().agents(0).start();
        registry = new Registry().inNamespace(swarm.network().add("reg")).start();
        registry.limitUplink("400mbit");
        String ref = image.push(registry, "team/app", "v1");
        registry.clearExchanges();
        List<Containerd> nodes = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            nodes.add(node("node" + i));
        }

        List<CompletableFuture<String>> pulls = List.of(
                CompletableFuture.supplyAsync(() -> ctrPull(nodes.get(0), ref)),
                CompletableFuture.supplyAsync(() -> ctrPull(nodes.get(1), ref)),
                CompletableFuture.supplyAsync(() -> nodes.get(2).cri().pull(ref, Optional.empty())));
        CompletableFuture.allOf(pulls.toArray(CompletableFuture[]::new)).get(5, TimeUnit.MINUTES);

        assertThat(nodes.get(0).imageDigest(Containerd.CTR_NAMESPACE, ref)).as(swarm.report()).contains(image.digest());
        assertThat(nodes.get(1).imageDigest(Containerd.CTR_NAMESPACE, ref)).contains(image.digest());
        assertThat(pulls.get(2).join()).isEqualTo(image.manifest().configDigest());
        assertThat(nodes.get(2).cri().manifestDigest(ref)).contains(image.digest());
        List<Registry.Exchange> exchanges = registry.exchanges();
        for (OciImage.Layer layer : image.manifest().layers()) {
            long sent = exchanges.stream().filter(e -> e.servedBlob() && e.blob().orElseThrow().equals(layer.digest()))
                    .mapToLong(Registry.Exchange::bytes).sum();
            // Once, give or take the one-byte probe a task makes before it knows the length.
            assertThat(sent).as("bytes of %s the registry sent\n%s", layer.digest(), swarm.report())
                    .isBetween(layer.size(), layer.size() + 3);
        }
        assertThat(swarm.agents()).allSatisfy(a -> assertThat(a.logLines("event=mirror_request")).isNotEmpty());

        registry.clearExchanges();
        registry.refuse(Registry.Refuse.BLOBS, 503);
        Containerd late = node("late");
        Commands.Result refused = late.pull(ref, late.certsDir(), false);
        assertThat(refused.succeeded()).as(refused + "\n" + swarm.report()).isTrue();
        assertThat(late.imageDigest(Containerd.CTR_NAMESPACE, ref)).contains(image.digest());
        assertThat(registry.exchanges()).noneMatch(Registry.Exchange::servedBlob);

        OciImage.Layer layer = image.manifest().layers().getFirst();
        Swarm.Node lateAgent = swarm.agents().getLast();
        String url = MIRROR + "/v2/team/app/blobs/" + layer.digest() + "?ns=" + registry.host();
        List<String> answers = new ArrayList<>();
        for (String range : List.of("100-199", (layer.size() - 10) + "-", layer.size() + "-")) {
            Commands.Result r = Commands.check(Duration.ofSeconds(60), lateAgent.netns().exec(List.of("curl", "-s", "-o",
                    "/dev/null", "-w", "%{http_code} %{size_download}", "-r", range, url)));
            answers.add(r.out().strip());
        }
        assertThat(answers).containsExactly("206 100", "206 10", "416 0");
    }

    @Test
    void aLayerForgedByAPeerIsCaughtByItsSha256AndNeverHandedOverThenTheNextPullComesRightFromTheRegistry() throws Exception {
        OciImage image = OciImage.builder(tmp.resolve("image")).layers(12 * MiB, 6 * MiB).seed(22).build();
        swarm.withoutSeed().agents(0).start();
        registry = new Registry().inNamespace(swarm.network().add("reg")).start();
        String ref = image.push(registry, "team/forged", "v1");
        Containerd liar = node("liar", "--debug-fault-injection=forge-uploads");
        Commands.Result own = liar.pull(ref, liar.certsDir(), false);
        assertThat(own.succeeded()).as(own + "\n" + swarm.report()).isTrue();
        registry.clearExchanges();

        Containerd honest = node("honest");
        Swarm.Node honestAgent = swarm.agents().getLast();
        OciImage.Layer layer = image.manifest().layers().getFirst();
        String url = MIRROR + "/v2/team/forged/blobs/" + layer.digest() + "?ns=" + registry.host();
        // Every piece from the liar passes its CRC-32; the whole does not pass its sha256. Pieces from peers wait for that
        // verdict, so not one byte of the forged copy reaches the client: a part of it would make containerd's resumed
        // transfer fail its digest (the first pull failed so before they were held).
        Commands.Result forged = Commands.run(Duration.ofSeconds(60), honestAgent.netns().exec(List.of("curl", "-s", "-o",
                tmp.resolve("forged.bin").toString(), "-w", "%{http_code} %{size_download}", url)));
        String context = forged + "\n" + swarm.report();
        assertThat(forged.exit()).as("curl's exit: the body ended early (18)\n" + context).isEqualTo(18);
        assertThat(forged.out().strip()).as(context).isEqualTo("200 0");
        String task = layer.digest().substring("sha256:".length());
        assertThat(honestAgent.logLines("event=task_digest_mismatch task=" + task)).as(context).hasSize(1);
        assertThat(honestAgent.logLines("event=mirror_blob_aborted task=" + task)).as(context).singleElement().asString()
                .contains("reason=digest_mismatch");
        String liarPeer = swarm.agents().getFirst().logLines("event=peer_registered task=" + task).getFirst()
                .replaceFirst(".* peer=(\\S+).*", "$1");
        assertThat(honestAgent.logLines("event=parents_suspected task=" + task)).as(context).singleElement().asString()
                .contains("parents=" + liarPeer);

        // containerd pulls the image at the first try: the other layer's forged copy is caught, held and cut, containerd
        // resumes it from byte 0, and the liar, a suspect now, is refused for both layers.
        Commands.Result pulled = honest.pull(ref, honest.certsDir(), false);
        assertThat(pulled.succeeded()).as(pulled + "\n" + swarm.report()).isTrue();
        assertThat(honest.imageDigest(Containerd.CTR_NAMESPACE, ref)).contains(image.digest());
        assertThat(honestAgent.logLines("event=parent_refused task=" + task)).as(swarm.report()).isNotEmpty();
        List<Registry.Exchange> exchanges = registry.exchanges();
        for (OciImage.Layer l : image.manifest().layers()) {
            long sent = exchanges.stream().filter(e -> e.servedBlob() && e.blob().orElseThrow().equals(l.digest()))
                    .mapToLong(Registry.Exchange::bytes).sum();
            assertThat(sent).as("bytes of %s the registry sent to the honest node\n%s", l.digest(), swarm.report())
                    .isBetween(l.size(), l.size() + 3);
        }
        assertThat(swarm.agents()).allSatisfy(a -> assertThat(a.daemon().isAlive()).isTrue());
    }

    private String ctrPull(Containerd node, String ref) {
        Commands.Result r = node.pull(ref, node.certsDir(), false);
        assertThat(r.succeeded()).as(r + "\n" + swarm.report()).isTrue();
        return r.out();
    }

    /** An agent with its mirror in a new namespace, and a containerd there that hosts.toml sends to it first. */
    private Containerd node(String name, String... flags) {
        List<String> all = new ArrayList<>(List.of("--proxy.server.enable=true",
                "--proxy.registryMirror.insecureRegistries=" + registry.host()));
        all.addAll(List.of(flags));
        Swarm.Node agent = swarm.startAgent(name, all.toArray(String[]::new));
        Path certs = tmp.resolve(name + "-certs.d");
        Containerd containerd = new Containerd(certs).inNamespace(agent.netns()).start();
        containerds.add(containerd);
        Commands.check(Duration.ofSeconds(60), List.of(Pollen.dfdaemon().toString(), "containerd-config", "--certs-dir", certs.toString(),
                "--containerd-config", containerd.dir().resolve("config.toml").toString(), "--registry", registry.host(),
                "--plain-http", registry.host(), "--mirror", MIRROR));
        return containerd;
    }
}
