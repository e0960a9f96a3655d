package dev.pollen.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.pollen.proto.common.v2.Task;
import dev.pollen.proto.dfdaemon.v2.DfdaemonUploadGrpc;
import dev.pollen.proto.dfdaemon.v2.StatTaskRequest;
import dev.pollen.proto.scheduler.v2.ListHostsRequest;
import dev.pollen.proto.scheduler.v2.SchedulerGrpc;
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
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code dfdaemon preheat} as a process against Pollen's scheduler, a seed peer and an agent (real processes on
 * loopback addresses of their own) and an image registry in the test: the seed ends up holding the platform's
 * config and layers, fetched with the registry's token; with {@code --scope=all-peers} the agent holds them too,
 * from the seed, and the registry has sent each blob once.
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
        Path task = stored(daemon, url).orElseThrow(() -> new AssertionError("no task of " + url + " on " + daemon));
        JsonNode meta = metadata(task);
        assertThat(meta.path("finished").asBoolean()).as("finished: " + meta).isTrue();
        assertThat(ImageRegistry.sha256(Files.readAllBytes(task.resolve("content")))).isEqualTo(digest);
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
        ManagedChannel channel = NettyChannelBuilder.forTarget(scheduler).usePlaintext().build();
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
