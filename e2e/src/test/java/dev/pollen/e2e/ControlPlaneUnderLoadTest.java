package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.proto.dfdaemon.v2.DfdaemonDownloadGrpc;
import dev.pollen.proto.dfdaemon.v2.ListLocalTasksRequest;
import dev.pollen.proto.dfdaemon.v2.StatTaskRequest;
import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The local API keeps answering while the daemon works flat out: health checks and StatTask over the socket
 * while downloads from nginx run back to back and two threads spin on the CPUs (as {@code stress-ng --cpu 2}
 * would). The guard is looser than the benchmark's target (bench/control-plane.sh, p99 <= 100 ms): this
 * machine's CPUs are shared with whatever else runs.
 */
class ControlPlaneUnderLoadTest {
    private static final Duration MEASURE = Duration.ofSeconds(10);
    private static final Duration P99_BOUND = Duration.ofSeconds(1);
    private static final int CONCURRENT_DOWNLOADS = 3;

    @RegisterExtension
    static final Nginx origin = new Nginx();

    @RegisterExtension
    final Daemons daemons = new Daemons();

    @TempDir
    Path out;

    @Test
    void healthAndStatTaskP99StayUnderOneSecondWhileDownloadsAndCpuHogsRun() throws Exception {
        DaemonProcess daemon = daemons.start();
        origin.createFile("load.bin", 128 * MiB, 71);
        String url = origin.url("/load.bin");
        Dfget.Result first = daemon.dfget().download(url, out.resolve("first.bin"), "--tag", "stat");
        assertThat(first.exitCode()).as(first.toString()).isZero();

        EpollEventLoopGroup loop = new EpollEventLoopGroup(1);
        ManagedChannel channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(daemon.socket().toFile()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(loop).usePlaintext().build();
        AtomicBoolean running = new AtomicBoolean(true);
        List<String> failedDownloads = new CopyOnWriteArrayList<>();
        List<Thread> load = new ArrayList<>();
        try {
            var health = HealthGrpc.newBlockingStub(channel);
            var api = DfdaemonDownloadGrpc.newBlockingStub(channel);
            StatTaskRequest stat = StatTaskRequest.newBuilder()
                    .setTaskId(api.listLocalTasks(ListLocalTasksRequest.getDefaultInstance()).getTasks(0).getTaskId()).build();
            for (int i = 0; i < 20; i++) {
                health.check(HealthCheckRequest.getDefaultInstance());
                api.statTask(stat);
            }
            load.add(Thread.ofPlatform().name("downloads").start(() -> downloadRounds(daemon, url, running, failedDownloads)));
            for (int i = 0; i < 2; i++) {
                load.add(Thread.ofPlatform().name("cpu-hog-" + i).start(() -> {
                    while (running.get()) {
                        Thread.onSpinWait();
                    }
                }));
            }
            List<Long> healthMicros = new ArrayList<>();
            List<Long> statMicros = new ArrayList<>();
            long end = System.nanoTime() + MEASURE.toNanos();
            while (System.nanoTime() < end) {
                long t0 = System.nanoTime();
                assertThat(health.withDeadlineAfter(10, TimeUnit.SECONDS).check(HealthCheckRequest.getDefaultInstance())
                        .getStatus()).isEqualTo(ServingStatus.SERVING);
                long t1 = System.nanoTime();
                assertThat(api.withDeadlineAfter(10, TimeUnit.SECONDS).statTask(stat).getId()).isEqualTo(stat.getTaskId());
                long t2 = System.nanoTime();
                healthMicros.add((t1 - t0) / 1000);
                statMicros.add((t2 - t1) / 1000);
                TimeUnit.MILLISECONDS.sleep(10);
            }
            String figures = "health " + percentiles(healthMicros) + ", StatTask " + percentiles(statMicros);
            System.out.println("[e2e] control plane under load: " + figures);
            assertThat(p99(healthMicros)).as("health check p99 in µs (" + figures + ")").isLessThan(P99_BOUND.toNanos() / 1000);
            assertThat(p99(statMicros)).as("StatTask p99 in µs (" + figures + ")").isLessThan(P99_BOUND.toNanos() / 1000);
        } finally {
            running.set(false);
            for (Thread t : load) {
                t.join(TimeUnit.MINUTES.toMillis(3));
            }
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
        assertThat(failedDownloads).as("downloads that failed under load").isEmpty();
    }

    /** Rounds of concurrent downloads of fresh tasks (each round a new tag) until told to stop. */
    private void downloadRounds(DaemonProcess daemon, String url, AtomicBoolean running, List<String> failed) {
        for (int round = 0; running.get(); round++) {
            List<Dfget.Running> downloads = new ArrayList<>();
            for (int i = 0; i < CONCURRENT_DOWNLOADS; i++) {
                downloads.add(daemon.dfget().startDownload(url, out.resolve("load-" + i + ".bin"), "--overwrite",
                        "--tag", "round-" + round + "-" + i));
            }
            for (Dfget.Running d : downloads) {
                Dfget.Result r = d.await(Duration.ofMinutes(2));
                if (r.exitCode() != 0) {
                    failed.add(r.toString());
                }
            }
            for (int i = 0; i < CONCURRENT_DOWNLOADS; i++) {
                try {
                    Files.deleteIfExists(out.resolve("load-" + i + ".bin"));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        }
    }

    private static long p99(List<Long> micros) {
        List<Long> sorted = new ArrayList<>(micros);
        Collections.sort(sorted);
        return sorted.get((int) (sorted.size() * 0.99));
    }

    private static String percentiles(List<Long> micros) {
        List<Long> sorted = new ArrayList<>(micros);
        Collections.sort(sorted);
        return String.format("p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d calls)", sorted.get(sorted.size() / 2) / 1000.0,
                p99(sorted) / 1000.0, sorted.get(sorted.size() - 1) / 1000.0, sorted.size());
    }
}
