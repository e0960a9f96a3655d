import dev.pollen.proto.dfdaemon.v2.DfdaemonDownloadGrpc;
import dev.pollen.proto.dfdaemon.v2.ListLocalTasksRequest;
import dev.pollen.proto.dfdaemon.v2.StatTaskRequest;
import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The control plane's latency: grpc.health.v1 Check and StatTask (of a task the daemon holds) over
 * dfdaemon's Unix socket, alternately, one call every 10 ms for SECONDS seconds, then one Markdown row per
 * call: p50, p99, max. Whatever load runs meanwhile is the caller's (bench/control-plane.sh).
 * Run: java -cp pollen-agent.jar bench/ControlPlaneLatency.java SOCKET SECONDS LABEL
 */
public final class ControlPlaneLatency {
    public static void main(String[] args) throws Exception {
        EpollEventLoopGroup loop = new EpollEventLoopGroup(1);
        ManagedChannel channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(args[0]))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(loop).usePlaintext().build();
        var health = HealthGrpc.newBlockingStub(channel);
        var download = DfdaemonDownloadGrpc.newBlockingStub(channel);
        String taskId = download.listLocalTasks(ListLocalTasksRequest.getDefaultInstance()).getTasks(0).getTaskId();
        StatTaskRequest stat = StatTaskRequest.newBuilder().setTaskId(taskId).build();
        // Warm-up: the first calls load classes on both sides.
        for (int i = 0; i < 50; i++) {
            health.check(HealthCheckRequest.getDefaultInstance());
            download.statTask(stat);
        }
        List<Long> healthMicros = new ArrayList<>();
        List<Long> statMicros = new ArrayList<>();
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[1]));
        while (System.nanoTime() < end) {
            long t0 = System.nanoTime();
            health.withDeadlineAfter(10, TimeUnit.SECONDS).check(HealthCheckRequest.getDefaultInstance());
            long t1 = System.nanoTime();
            download.withDeadlineAfter(10, TimeUnit.SECONDS).statTask(stat);
            long t2 = System.nanoTime();
            healthMicros.add((t1 - t0) / 1000);
            statMicros.add((t2 - t1) / 1000);
            Thread.sleep(10);
        }
        row("health check", args[2], healthMicros);
        row("StatTask", args[2], statMicros);
        channel.shutdownNow();
        loop.shutdownGracefully();
    }

    private static void row(String call, String label, List<Long> micros) {
        Collections.sort(micros);
        System.out.printf("| %s, %s (%d calls) | %.2f ms | %.2f ms | %.2f ms | p99 <= 100 ms |%n", call, label, micros.size(),
                micros.get(micros.size() / 2) / 1000.0, micros.get((int) (micros.size() * 0.99)) / 1000.0,
                micros.get(micros.size() - 1) / 1000.0);
    }
}
