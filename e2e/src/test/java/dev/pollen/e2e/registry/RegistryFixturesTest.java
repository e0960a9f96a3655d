package dev.pollen.e2e.registry;

import static dev.pollen.e2e.registry.OciImage.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pollen.e2e.Netns;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real parts of the registry-mirror tests, without Pollen: an image built here and pushed with skopeo to
 * the distribution registry, pulled by containerd through ctr and through the CRI, and the registry's front
 * counting and refusing what it is told to. If this fails, the mirror tests on top of it cannot be trusted.
 */
class RegistryFixturesTest {
    private static final Registry.Credentials ALICE = new Registry.Credentials("alice", "s3cret");

    @RegisterExtension
    static final Registry registry = new Registry();

    @RegisterExtension
    static final Registry secured = new Registry().withAuth(ALICE.user(), ALICE.password());

    @TempDir
    static Path tmp;

    private static OciImage big;
    private static OciImage small;
    private static Containerd node;
    private static Path certs;

    @BeforeAll
    static void buildImagesAndStartContainerd() {
        big = OciImage.builder(tmp.resolve("big")).layers(24 * MiB, 20 * MiB, 16 * MiB).seed(1).build();
        small = OciImage.builder(tmp.resolve("small")).layers(MiB, MiB / 2, 3 * MiB).seed(2).build();
        certs = tmp.resolve("certs.d");
        registry.writeDirectHosts(certs);
        secured.writeDirectHosts(certs);
        node = new Containerd(certs).start();
    }

    @AfterAll
    static void stopContainerd() {
        if (node != null) {
            node.close();
        }
    }

    @Test
    void ctrAndCriPullEveryLayerOnceAndRecordTheManifestDigest() {
        assertThat(big.manifest().layerBytes()).isGreaterThanOrEqualTo(50 * MiB);
        assertThat(big.manifest().layers()).hasSize(3);
        String ref = big.push(registry, "smoke/big", "v1");
        registry.clearExchanges();

        Commands.Result ctr = node.pull(ref, certs, false);
        assertThat(ctr.succeeded()).as(ctr.toString()).isTrue();
        assertThat(node.check(Containerd.CTR_NAMESPACE, ref)).get()
                .isEqualTo(new Containerd.ImageCheck(ref, big.digest(), true, true));
        assertEveryLayerServedOnce(big);

        assertThat(node.removeImage(Containerd.CTR_NAMESPACE, ref).succeeded()).isTrue();
        registry.clearExchanges();
        String id = node.cri().pull(ref, Optional.empty());
        assertThat(id).isEqualTo(big.manifest().configDigest());
        assertThat(node.cri().manifestDigest(ref)).contains(big.digest());
        assertThat(node.check(Containerd.CRI_NAMESPACE, ref)).get().extracting(Containerd.ImageCheck::unpacked).isEqualTo(true);
        assertEveryLayerServedOnce(big);
        // Layers and the config are blobs; the manifest is not.
        assertThat(registry.blobBytesSent()).isEqualTo(big.manifest().layerBytes() + configSize(big));
        node.cri().remove(ref);
    }

    @Test
    void authRegistryRefusesAnonymousClientsAndServesTheUserWithCredentials() {
        assertThat(small.tryPush(secured, "private/app", "v1", Optional.empty()).output()).contains("authentication required");
        String ref = small.push(secured, "private/app", "v1");

        Commands.Result anonymous = node.pull(ref, certs, false);
        assertThat(anonymous.succeeded()).as(anonymous.toString()).isFalse();
        assertThatThrownBy(() -> node.cri().pull(ref, Optional.empty())).isInstanceOf(StatusRuntimeException.class)
                .hasMessageContaining("401");

        Commands.Result alice = node.pull(ref, certs, false, secured.credentials());
        assertThat(alice.succeeded()).as(alice.toString()).isTrue();
        assertThat(node.imageDigest(Containerd.CTR_NAMESPACE, ref)).contains(small.digest());
        assertThat(node.removeImage(Containerd.CTR_NAMESPACE, ref).succeeded()).isTrue();
        node.cri().pull(ref, secured.credentials());
        assertThat(node.cri().manifestDigest(ref)).contains(small.digest());
        node.cri().remove(ref);
    }

    @Test
    void refusedBlobsFailAPullAndAStoppedRegistryComesBackWithItsContent() {
        String ref = small.push(registry, "smoke/small", "v1");
        registry.clearExchanges();
        registry.refuse(Registry.Refuse.BLOBS, 503);
        try {
            Commands.Result refused = node.pull(ref, certs, false);
            assertThat(refused.succeeded()).as(refused.toString()).isFalse();
            assertThat(registry.exchanges()).anyMatch(e -> e.source().equals("injected") && e.blob().isPresent())
                    .noneMatch(Registry.Exchange::servedBlob);
        } finally {
            registry.refuse(Registry.Refuse.NONE, 0);
        }

        int port = registry.port();
        registry.stop();
        Commands.Result stopped = node.pull(ref, certs, false);
        assertThat(stopped.succeeded()).as(stopped.toString()).isFalse();
        assertThat(stopped.output()).contains("connection refused");
        registry.start();
        assertThat(registry.port()).isEqualTo(port);
        Commands.Result back = node.pull(ref, certs, false);
        assertThat(back.succeeded()).as(back.toString()).isTrue();
        assertEveryLayerServedOnce(small);
        node.removeImage(Containerd.CTR_NAMESPACE, ref);
    }

    @Test
    void aMultiPlatformImagePullsOnlyThisPlatformsLayers() {
        OciImage multi = OciImage.builder(tmp.resolve("multi")).platforms("linux/amd64", "linux/arm64")
                .layers(MiB, MiB).seed(3).build();
        assertThat(multi.mediaType()).isEqualTo(OciImage.INDEX_TYPE);
        String ref = multi.push(registry, "smoke/multi", "v1");
        registry.clearExchanges();

        Commands.Result r = node.pull(ref, certs, false);
        assertThat(r.succeeded()).as(r.toString()).isTrue();
        assertThat(node.imageDigest(Containerd.CTR_NAMESPACE, ref)).contains(multi.digest());
        assertEveryLayerServedOnce(multi);
        multi.manifests().stream().filter(m -> m != multi.manifest()).flatMap(m -> m.layers().stream())
                .forEach(l -> assertThat(registry.blobGets(l.digest())).as(l.digest()).isZero());
        String byDigest = registry.refByDigest("smoke/multi", multi.digest());
        Commands.Result pinned = node.pull(byDigest, certs, false);
        assertThat(pinned.succeeded()).as(pinned.toString()).isTrue();
        assertThat(registry.exchanges()).anyMatch(e -> e.path().equals("/v2/smoke/multi/manifests/" + multi.digest()));
        node.removeImage(Containerd.CTR_NAMESPACE, byDigest);
        node.removeImage(Containerd.CTR_NAMESPACE, ref);
    }

    @Test
    void containerdInOneNamespacePullsFromARegistryInAnother() {
        try (Netns net = Netns.create();
                Registry remote = new Registry().inNamespace(net.add("reg"))) {
            Netns.Node host = net.add("node");
            remote.start();
            remote.limitUplink("400mbit");
            String ref = small.push(remote, "smoke/remote", "v1");
            remote.clearExchanges();
            Path remoteCerts = tmp.resolve("remote-certs.d");
            remote.writeDirectHosts(remoteCerts);
            try (Containerd inside = new Containerd(remoteCerts).inNamespace(host).start()) {
                Commands.Result r = inside.pull(ref, remoteCerts, false);
                assertThat(r.succeeded()).as(r.toString()).isTrue();
                assertThat(inside.imageDigest(Containerd.CTR_NAMESPACE, ref)).contains(small.digest());
                assertThat(inside.removeImage(Containerd.CTR_NAMESPACE, ref).succeeded()).isTrue();
                inside.cri().pull(ref, Optional.empty());
                assertThat(inside.cri().manifestDigest(ref)).contains(small.digest());
            }
            for (OciImage.Layer layer : small.manifest().layers()) {
                assertThat(remote.blobGets(layer.digest())).as(layer.digest()).isEqualTo(2);
            }
            assertThat(remote.exchanges()).isNotEmpty().allMatch(e -> e.client().equals(host.ip()));
        }
    }

    private static void assertEveryLayerServedOnce(OciImage image) {
        List<Registry.Exchange> exchanges = registry.exchanges();
        for (OciImage.Layer layer : image.manifest().layers()) {
            assertThat(exchanges.stream().filter(e -> e.servedBlob() && e.blob().orElseThrow().equals(layer.digest())))
                    .as("GETs of " + layer.digest() + " in " + exchanges).hasSize(1);
        }
    }

    private static long configSize(OciImage image) {
        return image.blob(image.manifest().configDigest()).toFile().length();
    }
}
