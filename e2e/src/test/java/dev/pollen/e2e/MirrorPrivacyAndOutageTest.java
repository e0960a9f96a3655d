package dev.pollen.e2e;

import static dev.pollen.e2e.registry.OciImage.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pollen.e2e.registry.Commands;
import dev.pollen.e2e.registry.Containerd;
import dev.pollen.e2e.registry.OciImage;
import dev.pollen.e2e.registry.Registry;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.dfdaemon.v2.DfdaemonDownloadGrpc;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The registry mirror of a real dfdaemon between a real containerd ({@code ctr}, hosts.toml naming the mirror) and
 * the real distribution registry: a layer one client pulled with credentials goes to no client the registry has not
 * let in (through the mirror or the daemon's own API), and a node pulls an image it pulled before while its (anonymous) registry is down.
 */
class MirrorPrivacyAndOutageTest {
    private static final Registry.Credentials ALICE = new Registry.Credentials("alice", "s3cret");

    @RegisterExtension
    static final Registry open = new Registry();

    @RegisterExtension
    static final Registry secured = new Registry().withAuth(ALICE.user(), ALICE.password());

    @RegisterExtension
    final Daemons daemons = new Daemons();

    @TempDir
    static Path tmp;

    private static OciImage image;
    private static Containerd node;
    private static Path certs;
    private static int mirrorPort;
    private final HttpClient http = HttpClient.newHttpClient();
    private DaemonProcess daemon;

    @BeforeAll
    static void imageAndContainerd() throws IOException {
        image = OciImage.builder(tmp.resolve("image")).layers(6 * MiB, 3 * MiB, MiB).seed(11).build();
        try (ServerSocket s = new ServerSocket(0)) {
            mirrorPort = s.getLocalPort();
        }
        certs = tmp.resolve("certs.d");
        for (Registry r : List.of(open, secured)) {
            // The mirror first, then the registry itself (server), as dfdaemon containerd-config writes it.
            Path file = certs.resolve(r.host()).resolve("hosts.toml");
            Files.createDirectories(file.getParent());
            Files.writeString(file, "server = \"" + r.url() + "\"\n\n[host.\"http://127.0.0.1:" + mirrorPort + "\"]\n"
                    + "  capabilities = [\"pull\", \"resolve\"]\n");
        }
        node = new Containerd(certs).start();
    }

    @AfterAll
    static void stopContainerd() {
        if (node != null) {
            node.close();
        }
    }

    private void startDaemon(String... flags) {
        daemon = daemons.start(daemons.newSpec().withFlags("--proxy.server.enable=true", "--proxy.server.port=" + mirrorPort,
                "--proxy.registryMirror.insecureRegistries=" + open.host() + "," + secured.host()).withFlags(flags));
    }

    @Test
    void aLayerPulledWithCredentialsGoesToNoClientTheRegistryHasNotLetIn() throws Exception {
        startDaemon();
        String ref = image.push(secured, "private/app", "v1");
        secured.clearExchanges();

        Commands.Result alice = node.pull(ref, certs, false, secured.credentials());
        assertThat(alice.succeeded()).as(alice.toString()).isTrue();
        assertThat(node.imageDigest(Containerd.CTR_NAMESPACE, ref)).contains(image.digest());
        assertThat(daemon.logLines("route=p2p").stream().filter(l -> l.contains("status=200"))).hasSizeGreaterThanOrEqualTo(3);
        OciImage.Layer layer = image.manifest().layers().getFirst();
        long sent = secured.blobBytesSent();

        HttpResponse<byte[]> anonymous = blob(layer, null);
        assertThat(anonymous.statusCode()).isEqualTo(401);
        assertThat(anonymous.headers().firstValue("WWW-Authenticate")).get().asString().startsWith("Basic");
        assertThat(anonymous.body()).hasSizeLessThan(1024);
        HttpResponse<byte[]> wrong = blob(layer, basic("alice", "guess"));
        assertThat(wrong.statusCode()).isEqualTo(401);
        assertThat(wrong.body()).hasSizeLessThan(1024);

        HttpResponse<byte[]> again = blob(layer, basic(ALICE.user(), ALICE.password()));
        assertThat(again.statusCode()).isEqualTo(200);
        assertThat(again.headers().firstValue("X-Pollen-Source")).contains("local");
        assertThat("sha256:" + sha256(again.body())).isEqualTo(layer.digest());

        assertThat(node.removeImage(Containerd.CTR_NAMESPACE, ref).succeeded()).isTrue();
        Commands.Result stranger = node.pull(ref, certs, false);
        assertThat(stranger.succeeded()).as(stranger.toString()).isFalse();
        assertThat(secured.blobBytesSent()).as("no layer byte left the registry after alice's pull").isEqualTo(sent);
        assertThat(daemon.logLines("access=refused")).isNotEmpty();

        // The daemon's own API holds the layer to the same rule: named by digest, it goes only to whom the registry lets in.
        try (DaemonChannel c = DaemonChannel.uds(daemon.socket())) {
            DfdaemonDownloadGrpc.DfdaemonDownloadBlockingStub api = DfdaemonDownloadGrpc.newBlockingStub(c.channel())
                    .withDeadlineAfter(30, TimeUnit.SECONDS);
            Path strangers = tmp.resolve("stranger-layer");
            assertThatThrownBy(() -> api.downloadTask(blobByDigest(layer, strangers, null)).forEachRemaining(r -> { }))
                    .isInstanceOfSatisfying(StatusRuntimeException.class,
                            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED));
            assertThat(strangers).doesNotExist();
            Path alices = tmp.resolve("alice-layer");
            api.downloadTask(blobByDigest(layer, alices, basic(ALICE.user(), ALICE.password()))).forEachRemaining(r -> { });
            assertThat("sha256:" + sha256(Files.readAllBytes(alices))).isEqualTo(layer.digest());
        }
    }

    @Test
    void aNodePullsAnImageItPulledBeforeWhileTheRegistryIsDown() throws Exception {
        // Every tag asked of the registry (no fresh answer reused), as after an outage longer than tagTTL.
        startDaemon("--proxy.manifests.tagTTL=0s");
        String ref = image.push(open, "team/app", "v1");
        Commands.Result first = node.pull(ref, certs, false);
        assertThat(first.succeeded()).as(first.toString()).isTrue();
        assertThat(node.removeImage(Containerd.CTR_NAMESPACE, ref).succeeded()).isTrue();
        assertThat(node.imageDigest(Containerd.CTR_NAMESPACE, ref)).isEmpty();

        open.stop();
        try {
            Commands.Result down = node.pull(ref, certs, false);
            assertThat(down.succeeded()).as(down + "\n" + daemon.logLines("event=mirror_request")).isTrue();
            assertThat(node.check(Containerd.CTR_NAMESPACE, ref)).get()
                    .isEqualTo(new Containerd.ImageCheck(ref, image.digest(), true, true));
            assertThat(daemon.logLines("reason=stale_if_error")).isNotEmpty();
            assertThat(daemon.logLines("event=manifest_stale_if_error")).hasSize(1);
        } finally {
            open.start();
            node.removeImage(Containerd.CTR_NAMESPACE, ref);
        }
    }

    private HttpResponse<byte[]> blob(OciImage.Layer layer, String authorization) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + mirrorPort + "/v2/private/app/blobs/"
                + layer.digest() + "?ns=" + secured.host()));
        if (authorization != null) {
            b.header("Authorization", authorization);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    /** A DownloadTask for {@code layer} as Dragonfly's clients ask for a blob by digest (the mirror's task for it). */
    private static DownloadTaskRequest blobByDigest(OciImage.Layer layer, Path output, String authorization) {
        Download.Builder d = Download.newBuilder().setUrl(secured.url() + "/v2/private/app/blobs/" + layer.digest())
                .setEnableTaskIdBasedBlobDigest(true).setOutputPath(output.toString());
        if (authorization != null) {
            d.putRequestHeader("Authorization", authorization);
        }
        return DownloadTaskRequest.newBuilder().setDownload(d).build();
    }

    private static String basic(String user, String password) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new UncheckedIOException(new IOException(e));
        }
    }
}
