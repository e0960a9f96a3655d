package dev.pollen.e2e;

import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * A gRPC channel from the test JVM to a daemon, opened as dfget and peers open theirs: over its Unix socket (the
 * local API and health; a socket is a file, so this reaches a daemon in any network namespace) or over TCP (its
 * upload server). The channel has an event loop of its own; {@link #close} waits for both to end, so a test
 * that counts the daemon's descriptors afterwards sees none of this channel's.
 */
record DaemonChannel(ManagedChannel channel, EventLoopGroup loop) implements AutoCloseable {
    /** To the daemon's local API socket. */
    static DaemonChannel uds(Path socket) {
        EventLoopGroup loop = new EpollEventLoopGroup(1);
        return new DaemonChannel(NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toFile()))
                .channelType(EpollDomainSocketChannel.class)
                .eventLoopGroup(loop)
                .usePlaintext()
                .build(), loop);
    }

    /** To a daemon's upload gRPC server ({@code DfdaemonUpload}). */
    static DaemonChannel tcp(String host, int port) {
        EventLoopGroup loop = new EpollEventLoopGroup(2);
        return new DaemonChannel(NettyChannelBuilder.forAddress(host, port)
                .channelType(EpollSocketChannel.class)
                .eventLoopGroup(loop)
                .usePlaintext()
                .build(), loop);
    }

    /**
     * Whether the daemon behind {@code socket} answers the gRPC health check with SERVING within {@code deadline}
     * (what dfget and a DaemonSet's probe rely on); false while it cannot be reached.
     */
    static boolean serving(Path socket, Duration deadline) {
        try (DaemonChannel c = uds(socket)) {
            return HealthGrpc.newBlockingStub(c.channel()).withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS)
                    .check(HealthCheckRequest.getDefaultInstance()).getStatus() == ServingStatus.SERVING;
        } catch (StatusRuntimeException e) {
            return false;
        }
    }

    /** Ends every call and transport, then the event loop; fails if that takes more than 10 s. */
    @Override
    public void close() {
        channel.shutdownNow();
        try {
            if (!channel.awaitTermination(10, TimeUnit.SECONDS)) {
                throw new AssertionError("gRPC channel " + channel + " did not terminate within 10 s");
            }
            loop.shutdownGracefully(0, 0, TimeUnit.SECONDS).await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted closing " + channel, e);
        }
    }
}
