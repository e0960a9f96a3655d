package dev.pollen.agent.upload;

import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.codec.http2.Http2StreamFrame;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * One server-streaming gRPC call made as a tonic client makes it: a {@code grpc-timeout} request header that this
 * side never enforces (tonic applies it to the response headers only). grpc-java's own client cannot be used for
 * this: it sends the header only with a deadline it then enforces itself.
 */
final class TonicStyleCall<T> implements AutoCloseable {
    /** Each message with the time it arrived ({@link System#nanoTime()}). */
    record Received<T>(T message, long nanos) {
    }

    final List<Received<T>> messages = new CopyOnWriteArrayList<>();
    /** How the call ended: {@code grpc-status <code> <message>}, {@code reset <code>} or {@code closed}. */
    final CompletableFuture<String> end = new CompletableFuture<>();

    private final EventLoopGroup group = new NioEventLoopGroup(1);
    private final Parser<T> parser;
    private final ByteBuf pending = Unpooled.buffer();

    TonicStyleCall(int port, String fullMethodName, String grpcTimeout, MessageLite request, Parser<T> parser) throws InterruptedException {
        this.parser = parser;
        Channel connection = new Bootstrap().group(group).channel(NioSocketChannel.class)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(Http2FrameCodecBuilder.forClient().build(),
                                new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
                    }
                })
                .connect("127.0.0.1", port).sync().channel();
        Http2StreamChannel stream = new Http2StreamChannelBootstrap(connection).handler(new SimpleChannelInboundHandler<Http2StreamFrame>() {
            @Override
            protected void channelRead0(ChannelHandlerContext ctx, Http2StreamFrame frame) {
                if (frame instanceof Http2DataFrame data) {
                    pending.writeBytes(data.content());
                    drain();
                } else if (frame instanceof Http2HeadersFrame headers && headers.headers().contains("grpc-status")) {
                    end.complete("grpc-status " + headers.headers().get("grpc-status") + " " + headers.headers().get("grpc-message"));
                } else if (frame instanceof Http2ResetFrame reset) {
                    end.complete("reset " + reset.errorCode());
                }
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) {
                end.complete("closed");
            }
        }).open().sync().getNow();
        Http2Headers headers = new DefaultHttp2Headers().method("POST").scheme("http").authority("127.0.0.1:" + port)
                .path("/" + fullMethodName).add("content-type", "application/grpc").add("te", "trailers")
                .add("grpc-timeout", grpcTimeout);
        byte[] body = request.toByteArray();
        ByteBuf framed = Unpooled.buffer(5 + body.length).writeByte(0).writeInt(body.length).writeBytes(body);
        stream.write(new DefaultHttp2HeadersFrame(headers, false));
        stream.writeAndFlush(new DefaultHttp2DataFrame(framed, true)).sync();
    }

    /** Parses every whole length-prefixed message received so far (runs on the event loop). */
    private void drain() {
        while (pending.readableBytes() >= 5) {
            int length = pending.getInt(pending.readerIndex() + 1);
            if (pending.readableBytes() < 5 + length) {
                return;
            }
            byte[] message = new byte[length];
            pending.skipBytes(5).readBytes(message);
            try {
                messages.add(new Received<>(parser.parseFrom(message), System.nanoTime()));
            } catch (com.google.protobuf.InvalidProtocolBufferException e) {
                end.complete("unparsable message: " + e);
            }
        }
        pending.discardReadBytes();
    }

    @Override
    public void close() {
        group.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
