package dev.pollen.agent.mirror;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One response's writes from the (virtual) thread that produces it, never from an event loop. At most
 * {@value #IN_FLIGHT} writes are outstanding: the producer waits for the oldest to reach the socket before it writes
 * another, so a slow client holds back its producer instead of filling memory, and a client that reads nothing for
 * {@code stall} is disconnected.
 */
final class ChannelOutput {
    private static final int IN_FLIGHT = 4;

    private final Channel channel;
    private final Duration stall;
    private final ArrayDeque<ChannelFuture> pending = new ArrayDeque<>();
    private final CompletableFuture<Void> closed = new CompletableFuture<>();
    private long bodyBytes;

    ChannelOutput(Channel channel, Duration stall) {
        this.channel = channel;
        this.stall = stall;
        channel.closeFuture().addListener(f -> closed.complete(null));
    }

    /** Completes when the client's connection closes: a download driven for it then stops waiting. */
    CompletableFuture<Void> closed() {
        return closed;
    }

    /** Writes {@code message}, first waiting while {@value #IN_FLIGHT} writes are outstanding. */
    void write(Object message, long bytes) throws IOException {
        if (!channel.isActive()) {
            io.netty.util.ReferenceCountUtil.release(message);
            throw new ClosedChannelException();
        }
        while (pending.size() >= IN_FLIGHT) {
            await(pending.removeFirst());
        }
        pending.addLast(channel.writeAndFlush(message));
        bodyBytes += bytes;
    }

    /** Waits until every write has reached the socket. */
    void drain() throws IOException {
        while (!pending.isEmpty()) {
            await(pending.removeFirst());
        }
    }

    /** Body bytes handed to the channel so far. */
    long bodyBytes() {
        return bodyBytes;
    }

    /** Ends the connection without finishing the response: the client sees a truncated body, never a complete one. */
    void abort() {
        channel.close();
    }

    private void await(ChannelFuture write) throws IOException {
        try {
            write.get(stall.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            channel.close();
            throw new IOException("client read nothing for " + stall.toSeconds() + "s (proxy.server.idleTimeout)");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            channel.close();
            throw new IOException("interrupted while writing to the client", e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
        }
    }

    /** Closes the connection once the writes so far are done (the response said it would, or HTTP/1.0). */
    void closeAfterWrites() {
        if (!channel.isActive()) {
            return;
        }
        channel.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
    }
}
