package dev.pollen.agent.peer;

import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/** gRPC connections to other peers' DfdaemonUpload servers, one per address, on the data plane's own event loop. */
public final class ParentChannels implements AutoCloseable {
    private final EventLoopGroup loop = new EpollEventLoopGroup(1, new DefaultThreadFactory("parent-grpc", true));
    private final Map<String, ManagedChannel> channels = new ConcurrentHashMap<>();

    public ManagedChannel channel(String ip, int port) {
        return channels.computeIfAbsent(ip + ":" + port, key -> NettyChannelBuilder.forAddress(ip, port)
                .channelType(EpollSocketChannel.class)
                .eventLoopGroup(loop)
                .usePlaintext()
                .build());
    }

    @Override
    public void close() {
        channels.values().forEach(ManagedChannel::shutdownNow);
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
}
