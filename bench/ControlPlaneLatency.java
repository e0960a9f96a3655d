import dev.pollen.proto.dfdaemon.v2.DfdaemonDownloadGrpc;
import dev.pollen.proto.dfdaemon.v2.ListLocalTasksRequest;
import dev.pollen.proto.dfdaemon.v2.StatLocalTaskResponse;
import dev.pollen.proto.dfdaemon.v2.StatTaskRequest;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The control plane's latency: grpc.health.v1 Check and StatTask (of a task the daemon holds) over
 * dfdaemon's Unix socket, alternately, one call every 10 ms for SECONDS seconds, then one Markdown row per
 * call: p50, p99, max, and the calls that failed. StatTask asks about the daemon's oldest task (complete
 * before the load started). Whatever load runs meanwhile is the caller's (bench/control-plane.sh).
 * Run: java -cp pollen-agent.jar bench/ControlPlaneLatency.java SOCKET SECONDS LABEL
 */
public final class ControlPlaneLatency {
    public static void main(String[] args) throws Exception {
        EpollEventLoopGroup loop = new EpollEventLoopGroup(1);
        ManagedChannel channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(args[0]))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(loop).usePlaintext().build();
        var health = HealthGrpc.newBlockingStub(channel);
        var download = DfdaemonDownloadGrpc.newBlockingStub(channel);
        String taskId = download.listLocalTasks(ListLocalTasksRequest.getDefaultInstance()).getTasksList().stream()
                .min(Comparator.comparingLong((StatLocalTaskResponse t) -> t.getCreatedAt().getSeconds())
                        .thenComparingInt(t -> t.getCreatedAt().getNanos()))
                .orElseThrow().getTaskId();
        StatTaskRequest stat = StatTaskRequest.newBuilder().setTaskId(taskId).build();
        // Warm-up: the first calls load classes on both sides.
        for (int i = 0; i < 50; i++) {
            health.check(HealthCheckRequest.getDefaultInstance());
            download.statTask(stat);
        }
        List<Long> healthMicros = new ArrayList<>();
        List<Long> statMicros = new ArrayList<>();
        int[] failed = new int[2];
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[1]));
        while (System.nanoTime() < end) {
            healthMicros.add(timed(() -> health.withDeadlineAfter(10, TimeUnit.SECONDS).check(HealthCheckRequest.getDefaultInstance()),
                    failed, 0));
            statMicros.add(timed(() -> download.withDeadlineAfter(10, TimeUnit.SECONDS).statTask(stat), failed, 1));
            Thread.sleep(10);
        }
        row("health check", args[2], healthMicros, failed[0]);
        row("StatTask", args[2], statMicros, failed[1]);
        channel.shutdownNow();
        loop.shutdownGracefully();
        // Netty's loop threads are not daemons: exit now even if one lingers.
        System.exit(failed[0] + failed[1] == 0 ? 0 : 1);
    }

    /** Microseconds one call took; a failed call counts, with the time it took to fail. */
    private static long timed(Runnable call, int[] failed, int which) {
        long t0 = System.nanoTime();
        try {
            call.run();
        } catch (StatusRuntimeException e) {
            failed[which]++;
            System.err.println(e.getStatus());
        }
        return (System.nanoTime() - t0) / 1000;
    }

    private static void row(String call, String label, List<Long> micros, int failed) {
        Collections.sort(micros);
        System.out.printf("| %s, %s (%d calls, %d failed) | %.2f ms | %.2f ms | %.2f ms | p99 <= 100 ms |%n", call, label,
                micros.size(), failed, micros.get(micros.size() / 2) / 1000.0, micros.get((int) (micros.size() * 0.99)) / 1000.0,
                micros.get(micros.size() - 1) / 1000.0);
    }
}
