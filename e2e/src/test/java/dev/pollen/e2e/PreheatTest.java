package dev.pollen.e2e;

import static org.assertj.core.api.Assertions.as;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.InstanceOfAssertFactories.STRING;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.pollen.proto.common.v2.Task;
import dev.pollen.proto.dfdaemon.v2.DfdaemonUploadGrpc;
import dev.pollen.proto.dfdaemon.v2.StatTaskRequest;
import dev.pollen.proto.scheduler.v2.ListHostsRequest;
import dev.pollen.proto.scheduler.v2.SchedulerGrpc;
import dev.pollen.scheduler.client.SchedulerChannels;
import dev.pollen.tls.MutualTls;
import dev.pollen.tls.TestCertificates;
import dev.pollen.tls.TlsFiles;
import dev.pollen.tls.TlsRefusals;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code dfdaemon preheat} as a process against Pollen's scheduler, a seed peer and an agent (real processes on
 * loopback addresses of their own) and an image registry in the test: the seed ends up holding the platform's
 * config and layers, fetched with the registry's token; with {@code --scope=all-peers} the agent holds them too,
 * from the seed, and the registry has sent each blob once. Under mutual TLS, preheat reaches the scheduler as the
 * daemons do (their configuration file or flags), and a certificate the scheduler or preheat does not accept, or none,
 * fails in one line naming the cause and the fix.
 */
class PreheatTest {
    private static final Duration RUN_TIMEOUT = Duration.ofSeconds(120);
    /** The one-byte probe a peer makes before it registers. */
    private static final long PROBE = 1;

    @RegisterExtension
    final Daemons daemons = new Daemons();

    @TempDir
    Path work;

    record Run(int exitCode, String stdout, String stderr) {
        @Override
        public String toString() {
            return "exit " + exitCode + "\n--- stdout ---\n" + stdout + "\n--- stderr ---\n" + stderr;
        }
    }

    @Test
    void seedPeersHoldEveryLayerAfterAPreheatAndAllPeersTakeThemFromTheSeed() throws Exception {
        // 5 MiB: two pieces of 4 MiB; 300 KiB: one
        try (ImageRegistry registry = new ImageRegistry("team/app", "1.0", 7, 5 << 20, 300 << 10);
                SchedulerProcess scheduler = SchedulerProcess.start(work.resolve("scheduler"), List.of(), "--port=0", "--listen=127.0.0.1")) {
            String address = "127.0.0.1:" + scheduler.port();
            DaemonProcess seed = MixedCluster.startAgent(daemons, "127.0.0.2", address, "--seedPeer.enable=true");
            DaemonProcess agent = MixedCluster.startAgent(daemons, "127.0.0.3", address, "--upload.downloadTask.acceptPreheat=true");
            awaitHosts(address, 2);

            Run seeds = preheat("--plain-http", "--scheduler=" + address, "--platform=linux/amd64", registry.image());

            assertThat(seeds.exitCode()).as(seeds::toString).isZero();
            assertThat(seeds.stdout()).as(seeds::toString).contains("targets (1 of 2 hosts): ").contains("(127.0.0.2, seed)").doesNotContain("127.0.0.3")
                    .contains("preheated " + registry.image() + ": 3 blobs");
            for (String digest : registry.amd64Blobs()) {
                assertHolds(seed, "127.0.0.2", registry, digest);
                assertThat(stored(agent, registry.blobUrl(digest))).as("the agent, not a target of seed-peers").isEmpty();
            }
            assertThat(registry.unauthorizedBlobRequests).as("the seed sent the registry's token with every blob request").isEmpty();

            Run all = preheat("--plain-http", "--scheduler=" + address, "--platform=linux/amd64", "--scope=all-peers", registry.image());

            assertThat(all.exitCode()).as(all::toString).isZero();
            assertThat(all.stdout()).contains("targets (2 of 2 hosts): ");
            for (String digest : registry.amd64Blobs()) {
                assertHolds(agent, "127.0.0.3", registry, digest);
                long size = registry.blob(digest).length;
                assertThat(registry.bytesSent(digest)).as(() -> "bytes of " + digest + " the registry sent\n" + all + "\n" + agent)
                        .isBetween(size, size + 2 * PROBE);
            }
            assertThat(scheduler.errors()).isEmpty();
        }
    }

    @Test
    void aTlsSchedulerTakesAPreheatWithTheClustersCertificateAndRefusesOthersInOneLine() throws Exception {
        TestCertificates.Ca ca = TestCertificates.ca(work.resolve("ca"), "pollen-ca");
        TestCertificates.Ca other = TestCertificates.ca(work.resolve("other"), "other-ca");
        TlsFiles schedulerFiles = ca.issue(work.resolve("sched"), "scheduler");
        try (ImageRegistry registry = new ImageRegistry("team/app", "1.0", 9, 5 << 20, 300 << 10);
                SchedulerProcess scheduler = SchedulerProcess.start(work.resolve("scheduler"), List.of(), "--port=0", "--listen=127.0.0.1",
                        "--tls-ca-cert=" + schedulerFiles.caCert(), "--tls-cert=" + schedulerFiles.cert(),
                        "--tls-key=" + schedulerFiles.key())) {
            String address = "127.0.0.1:" + scheduler.port();
            TlsFiles seedFiles = ca.issue(work.resolve("seed"), "seed");
            DaemonProcess seed = MixedCluster.startAgent(daemons, "127.0.0.2", address, TlsFlags.withScheduler(seedFiles,
                    "--seedPeer.enable=true"));
            awaitHosts(address, 1, seedFiles);

            // The daemons' own configuration file, as a node that runs preheat has it.
            TlsFiles node = ca.issue(work.resolve("node"), "node");
            Path config = Files.writeString(work.resolve("dfdaemon.yaml"), """
                    scheduler:
                      addresses: ["%s"]
                      tls: true
                    upload:
                      server: {caCert: "%s", cert: "%s", key: "%s"}
                      client: {caCert: "%s", cert: "%s", key: "%s"}
                    """.formatted(address, node.caCert(), node.cert(), node.key(), node.caCert(), node.cert(), node.key()));
            Run accepted = preheat("--plain-http", "--config=" + config, "--platform=linux/amd64", registry.image());

            assertThat(accepted.exitCode()).as(accepted::toString).isZero();
            assertThat(accepted.stdout()).contains("preheated " + registry.image() + ": 3 blobs");
            for (String digest : registry.amd64Blobs()) {
                assertStored(seed, registry, digest);
            }

            // It trusts the cluster's CA, but another CA signed its own certificate: the scheduler is the one to refuse it.
            TlsFiles stranger = other.issue(work.resolve("stranger"), "stranger");
            Run refused = preheat(withTls(new TlsFiles(ca.pem(), stranger.cert(), stranger.key()), "--plain-http",
                    "--scheduler=" + address, "--platform=linux/amd64", registry.image()));

            assertThat(refused.exitCode()).as(refused::toString).isEqualTo(3);
            assertThat(refused.stderr().strip().lines()).as(refused::toString).singleElement(as(STRING))
                    .startsWith("dfdaemon preheat: the scheduler at " + address + " rejected this node's certificate " + stranger.cert() + ": ")
                    .contains("(fix: upload.client.cert and .key signed by the CA of the scheduler's --tls-ca-cert, and not expired)");
            await().atMost(Duration.ofSeconds(10)).until(() -> !scheduler.logLines("event=tls_refused").isEmpty());
            assertThat(scheduler.logLines("event=tls_refused")).singleElement(as(STRING)).contains("other-ca").contains("side=server");

            // The other way round: it trusts another CA, which did not sign the scheduler's certificate.
            TlsFiles strangers = other.issue(work.resolve("strangers"), "strangers");
            Run distrusted = preheat(withTls(strangers, "--plain-http", "--scheduler=" + address, "--platform=linux/amd64",
                    registry.image()));

            assertThat(distrusted.exitCode()).as(distrusted::toString).isEqualTo(3);
            assertThat(distrusted.stderr().strip().lines()).as(distrusted::toString).singleElement(as(STRING))
                    .startsWith("dfdaemon preheat: the scheduler at " + address + " showed a certificate that upload.client.caCert ("
                            + strangers.caCert() + ") did not sign: ")
                    .endsWith("(fix: upload.client.caCert must be the CA that signed the scheduler's --tls-cert)");

            Run plaintext = preheat("--plain-http", "--scheduler=" + address, "--platform=linux/amd64", registry.image());

            assertThat(plaintext.exitCode()).as(plaintext::toString).isEqualTo(3);
            assertThat(plaintext.stderr().strip()).as(plaintext::toString).isEqualTo("dfdaemon preheat: the scheduler at " + address
                    + " requires mutual TLS and this preheat has no client certificate configured (fix: scheduler.tls: true with "
                    + "upload.client.caCert/cert/key, in --config FILE or as --scheduler.tls=true --upload.client.caCert=... flags, "
                    + "as the daemons have)");
            assertThat(scheduler.errors()).isEmpty();
        }
    }

    /** The daemon's TLS flags for {@code files}, as preheat takes them, then {@code args}. */
    private static String[] withTls(TlsFiles files, String... args) {
        List<String> all = new ArrayList<>(List.of(TlsFlags.withScheduler(files)));
        all.addAll(List.of(args));
        return all.toArray(String[]::new);
    }

    @Test
    void aPlatformTheIndexLacksFailsInOneLineListingThePlatformsItHas() throws Exception {
        try (ImageRegistry registry = new ImageRegistry("team/app", "1.0", 8, 1000, 2000)) {
            Run r = preheat("--plain-http", "--scheduler=127.0.0.1:1", "--platform=linux/s390x", registry.image());

            assertThat(r.exitCode()).as(r::toString).isEqualTo(4);
            assertThat(r.stderr().strip()).as(r::toString)
                    .isEqualTo("dfdaemon preheat: no manifest for platform linux/s390x in " + registry.image()
                            + " (the index has: linux/amd64, linux/arm64; fix: --platform)");
        }
    }

    /** The task whose stored metadata names {@code url} is finished on {@code daemon}, holds the blob's bytes, and its StatTask says so. */
    private static void assertHolds(DaemonProcess daemon, String ip, ImageRegistry registry, String digest) throws IOException {
        String url = registry.blobUrl(digest);
        Path task = assertStored(daemon, registry, digest);
        ManagedChannel channel = NettyChannelBuilder.forAddress(ip, MixedCluster.uploadPort(daemon)).usePlaintext().build();
        try {
            Task stat = DfdaemonUploadGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .statTask(StatTaskRequest.newBuilder().setTaskId(task.getFileName().toString()).build());
            assertThat(stat.getUrl()).isEqualTo(url);
            assertThat(stat.getContentLength()).isEqualTo(registry.blob(digest).length);
            assertThat(stat.getState()).isEqualTo("Succeeded");
        } finally {
            channel.shutdownNow();
        }
    }

    /** The task whose stored metadata names the blob's URL is finished on {@code daemon} and holds the blob's bytes. */
    private static Path assertStored(DaemonProcess daemon, ImageRegistry registry, String digest) throws IOException {
        String url = registry.blobUrl(digest);
        Path task = stored(daemon, url).orElseThrow(() -> new AssertionError("no task of " + url + " on " + daemon));
        JsonNode meta = metadata(task);
        assertThat(meta.path("finished").asBoolean()).as("finished: " + meta).isTrue();
        assertThat(ImageRegistry.sha256(Files.readAllBytes(task.resolve("content")))).isEqualTo(digest);
        return task;
    }

    private static Optional<Path> stored(DaemonProcess daemon, String url) throws IOException {
        Path tasks = daemon.storage().resolve("tasks");
        if (!Files.isDirectory(tasks)) {
            return Optional.empty();
        }
        try (Stream<Path> dirs = Files.list(tasks)) {
            return dirs.filter(d -> Files.isRegularFile(d.resolve("metadata")))
                    .filter(d -> metadata(d).path("url").asText().equals(url)).findFirst();
        }
    }

    /** The metadata JSON after its CRC header line. */
    private static JsonNode metadata(Path task) {
        try {
            String text = Files.readString(task.resolve("metadata"), StandardCharsets.UTF_8);
            return new ObjectMapper().readTree(text.substring(text.indexOf('\n') + 1));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void awaitHosts(String scheduler, int hosts) {
        awaitHosts(SchedulerChannels.open(scheduler, null), hosts);
    }

    /** Over mutual TLS with {@code files}. */
    private static void awaitHosts(String scheduler, int hosts, TlsFiles files) throws IOException {
        ScheduledExecutorService reloader = Executors.newSingleThreadScheduledExecutor();
        try (MutualTls tls = MutualTls.load("test", files, Duration.ofMinutes(1), reloader, new TlsRefusals())) {
            awaitHosts(SchedulerChannels.open(scheduler, tls), hosts);
        } finally {
            reloader.shutdownNow();
        }
    }

    private static void awaitHosts(ManagedChannel channel, int hosts) {
        try {
            await("the scheduler to know " + hosts + " hosts").atMost(Duration.ofSeconds(30)).until(() -> SchedulerGrpc
                    .newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.SECONDS).listHosts(ListHostsRequest.getDefaultInstance())
                    .getHostsCount() >= hosts);
        } finally {
            channel.shutdownNow();
        }
    }

    private Run preheat(String... args) throws IOException {
        Path dir = Files.createDirectories(work.resolve("preheat"));
        Path out = Files.createTempFile(dir, "preheat-", ".out");
        Path err = Files.createTempFile(dir, "preheat-", ".err");
        // No docker config of this machine's user: the registry's anonymous token only.
        Path noCredentials = Files.writeString(dir.resolve("docker-config.json"), "{\"auths\":{}}");
        List<String> cmd = new ArrayList<>(List.of(Pollen.dfdaemon().toString(), "preheat", "--registry-config=" + noCredentials));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .redirectOutput(out.toFile()).redirectError(err.toFile());
        Process p = ChildProcesses.track(pb.start());
        if (!ChildProcesses.awaitExit(p, RUN_TIMEOUT)) {
            ChildProcesses.kill(p);
            throw new AssertionError("dfdaemon preheat pid " + p.pid() + " did not finish within " + RUN_TIMEOUT + ":\n"
                    + Files.readString(out) + Files.readString(err));
        }
        return new Run(p.exitValue(), Files.readString(out), Files.readString(err));
    }
}
