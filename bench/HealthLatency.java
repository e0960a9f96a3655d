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
 * The control plane under load: grpc.health.v1 Check over dfdaemon's Unix socket, one call every 10 ms
 * for DURATION seconds (while the daemon uploads at full speed, started by the caller), then p50/p99.
 * Run: java -cp 'agent/target/pollen-agent.jar' bench/HealthLatency.java SOCKET SECONDS
 */
public final class HealthLatency {
    public static void main(String[] args) throws Exception {
        EpollEventLoopGroup loop = new EpollEventLoopGroup(1);
        ManagedChannel channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(args[0]))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(loop).usePlaintext().build();
        var stub = HealthGrpc.newBlockingStub(channel);
        stub.check(HealthCheckRequest.getDefaultInstance());
        List<Long> micros = new ArrayList<>();
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[1]));
        while (System.nanoTime() < end) {
            long t0 = System.nanoTime();
            stub.withDeadlineAfter(5, TimeUnit.SECONDS).check(HealthCheckRequest.getDefaultInstance());
            micros.add((System.nanoTime() - t0) / 1000);
            Thread.sleep(10);
        }
        Collections.sort(micros);
        System.out.printf("| health check over A's socket while A uploads (%d checks) | p50 %.2f ms, p99 %.2f ms (max %.2f) | | p99 <= 50 ms |%n",
                micros.size(), micros.get(micros.size() / 2) / 1000.0, micros.get((int) (micros.size() * 0.99)) / 1000.0,
                micros.get(micros.size() - 1) / 1000.0);
        channel.shutdownNow();
        loop.shutdownGracefully();
    }
}
