package dev.pollen.agent.peer;

import dev.pollen.tls.MutualTls;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * gRPC connections to other peers' DfdaemonUpload servers, one per address, on the data plane's own event loop; over
 * mutual TLS when {@code upload.client.*} names certificates.
 */
public final class ParentChannels implements AutoCloseable {
    private final EventLoopGroup loop = new EpollEventLoopGroup(1, new DefaultThreadFactory("parent-grpc", true));
    private final Map<String, ManagedChannel> channels = new ConcurrentHashMap<>();
    private final MutualTls tls;

    /** @param tls this node's client side of mutual TLS, or null for plaintext */
    public ParentChannels(MutualTls tls) {
        this.tls = tls;
    }

    public ManagedChannel channel(String ip, int port) {
        return channels.computeIfAbsent(ip + ":" + port, key -> {
            NettyChannelBuilder b = NettyChannelBuilder.forAddress(ip, port)
                    .channelType(EpollSocketChannel.class)
                    .eventLoopGroup(loop);
            return (tls == null ? b.usePlaintext() : b.sslContext(tls.grpcClient())).build();
        });
    }

    @Override
    public void close() {
        channels.values().forEach(ManagedChannel::shutdownNow);
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
}
