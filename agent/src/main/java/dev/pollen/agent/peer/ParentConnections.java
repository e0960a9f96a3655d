package dev.pollen.agent.peer;

import dev.pollen.agent.vortex.VortexException;
import dev.pollen.agent.vortex.VortexException.Reason;
import dev.pollen.agent.vortex.VortexFrame;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Idle connections per parent and event loop, so consecutive pieces from one parent skip the TCP
 * handshake, and a task's connections all live on the event loop the caller names. A pooled
 * connection may have been closed by the parent in the meantime (Dragonfly's Rust server answers one
 * request per connection); the caller retries once on a fresh one when a reused connection dies
 * before answering.
 */
final class ParentConnections {
    /** A connection to use for one request, and whether it came from the pool. */
    record Lease(Channel channel, boolean reused) {
    }

    private final Bootstrap bootstrap;
    private final int maxIdlePerParent;
    private final Map<Key, ArrayDeque<Channel>> idle = new HashMap<>();
    private boolean closed;

    ParentConnections(Bootstrap bootstrap, int maxIdlePerParent) {
        this.bootstrap = bootstrap;
        this.maxIdlePerParent = maxIdlePerParent;
    }

    /** Pooled connections are told apart by parent and by the event loop that drives them. */
    private record Key(InetSocketAddress parent, EventLoop loop) {
    }

    Lease acquire(InetSocketAddress parent, EventLoop loop, long timeoutNanos, boolean allowPooled)
            throws VortexException, InterruptedException {
        if (allowPooled) {
            Channel pooled = pollIdle(new Key(parent, loop));
            if (pooled != null) {
                return new Lease(pooled, true);
            }
        }
        long millis = Math.max(1, TimeUnit.NANOSECONDS.toMillis(timeoutNanos));
        ChannelFuture connect = bootstrap.clone(loop)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, millis))
                .connect(parent);
        boolean done;
        try {
            done = connect.await(timeoutNanos, TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            abandon(connect);
            throw e;
        }
        if (!done) {
            abandon(connect);
            throw new VortexException(Reason.TIMEOUT, "connecting to parent " + parent + " took longer than " + millis + " ms");
        }
        if (!connect.isSuccess()) {
            throw new VortexException(Reason.CONNECT_FAILED, "cannot connect to parent " + parent + ": "
                    + connect.cause().getMessage(), connect.cause());
        }
        return new Lease(connect.channel(), false);
    }

    private synchronized Channel pollIdle(Key key) {
        ArrayDeque<Channel> channels = idle.get(key);
        while (channels != null && !channels.isEmpty()) {
            Channel ch = channels.pollLast();
            if (ch.isActive()) {
                return ch;
            }
        }
        return null;
    }

    /** Gives a connection whose exchange ended cleanly back for reuse (or closes it when the pool is full). */
    void release(InetSocketAddress parent, Channel ch) {
        synchronized (this) {
            if (!closed && ch.isActive()) {
                ArrayDeque<Channel> channels = idle.computeIfAbsent(new Key(parent, ch.eventLoop()), k -> new ArrayDeque<>());
                channels.removeIf(c -> !c.isActive());
                if (channels.size() < maxIdlePerParent) {
                    channels.addLast(ch);
                    return;
                }
            }
        }
        ch.close();
    }

    /** Says Close on every idle connection and closes it; later releases just close. */
    void close() {
        List<Channel> all = new ArrayList<>();
        synchronized (this) {
            closed = true;
            idle.values().forEach(all::addAll);
            idle.clear();
        }
        for (Channel ch : all) {
            if (ch.isActive()) {
                ch.writeAndFlush(VortexFrame.Close.of()).addListener(ChannelFutureListener.CLOSE);
            }
        }
        for (Channel ch : all) {
            ch.closeFuture().awaitUninterruptibly(1000);
        }
    }

    private static void abandon(ChannelFuture connect) {
        connect.cancel(false);
        connect.channel().close();
    }
}
