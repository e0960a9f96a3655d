package dev.pollen.agent.peer;

import dev.pollen.agent.vortex.VortexDecoder;
import dev.pollen.agent.vortex.VortexEncoder;
import dev.pollen.agent.vortex.VortexFrame;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32;

/**
 * A parent that plays by whatever rules a test gives it: it decodes requests with the real decoder and
 * answers each with raw bytes from {@link Behaviour}, so tests can send corrupted, oversized, truncated
 * or no answers at all.
 */
final class RawVortexParent implements AutoCloseable {
    /** How the parent answers one request. */
    @FunctionalInterface
    interface Behaviour {
        void answer(ChannelHandlerContext ctx, VortexFrame.DownloadPiece request);
    }

    private final EventLoopGroup group = new NioEventLoopGroup(1);
    private final Channel listener;
    private final AtomicInteger connections = new AtomicInteger();
    private final AtomicInteger requests = new AtomicInteger();

    RawVortexParent(Behaviour behaviour) {
        listener = new ServerBootstrap()
                .group(group)
                .channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        connections.incrementAndGet();
                        ch.pipeline().addLast(new VortexDecoder(VortexDecoder.Side.SERVER),
                                new SimpleChannelInboundHandler<VortexFrame>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, VortexFrame frame) {
                                        if (frame instanceof VortexFrame.DownloadPiece request) {
                                            requests.incrementAndGet();
                                            behaviour.answer(ctx, request);
                                        } else {
                                            ctx.close();
                                        }
                                    }

                                    @Override
                                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                        // The client hanging up on a liar is the expected outcome here.
                                        ctx.close();
                                    }
                                });
                    }
                })
                .bind(new InetSocketAddress("127.0.0.1", 0))
                .syncUninterruptibly()
                .channel();
    }

    InetSocketAddress address() {
        return (InetSocketAddress) listener.localAddress();
    }

    int connections() {
        return connections.get();
    }

    int requests() {
        return requests.get();
    }

    /** The PieceContent header and value for {@code bytes}, as an honest parent would announce them. */
    static ByteBuf header(long number, long offset, long length, String digest) {
        ByteBuf out = Unpooled.buffer();
        VortexEncoder.encode(new VortexFrame.PieceContent(VortexFrame.newId(), number, offset, length, digest, "raw-parent", 1,
                Duration.ofSeconds(1), Instant.now()), out);
        return out;
    }

    static String crc32(byte[] bytes) {
        CRC32 crc = new CRC32();
        crc.update(bytes);
        return "crc32:" + crc.getValue();
    }

    @Override
    public void close() {
        listener.close().syncUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
