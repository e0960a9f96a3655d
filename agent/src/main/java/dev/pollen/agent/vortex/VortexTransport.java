package dev.pollen.agent.vortex;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;

/**
 * The TCP transport piece traffic runs on: native epoll where it loads (sendfile without a JDK hop),
 * NIO elsewhere (FileChannel.transferTo, still zero copy on Linux). Both sides take it as a parameter so
 * tests can run the same exchange over each.
 */
public enum VortexTransport {
    EPOLL,
    NIO;

    /** Epoll when the native library is available on this machine, otherwise NIO. */
    public static VortexTransport best() {
        return Epoll.isAvailable() ? EPOLL : NIO;
    }

    public boolean available() {
        return this == NIO || Epoll.isAvailable();
    }

    /** A group of daemon threads named {@code name-N}, owned by the caller. */
    public EventLoopGroup newGroup(int threads, String name) {
        DefaultThreadFactory factory = new DefaultThreadFactory(name, true);
        return this == EPOLL ? new EpollEventLoopGroup(threads, factory) : new NioEventLoopGroup(threads, factory);
    }

    public Class<? extends ServerChannel> serverChannel() {
        return this == EPOLL ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
    }

    public Class<? extends SocketChannel> socketChannel() {
        return this == EPOLL ? EpollSocketChannel.class : NioSocketChannel.class;
    }
}
