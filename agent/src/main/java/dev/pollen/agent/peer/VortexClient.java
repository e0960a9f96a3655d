package dev.pollen.agent.peer;

import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.storage.StoredTask;
import dev.pollen.agent.vortex.VortexDecoder;
import dev.pollen.agent.vortex.VortexEncoder;
import dev.pollen.agent.vortex.VortexException;
import dev.pollen.agent.vortex.VortexException.Reason;
import dev.pollen.agent.vortex.VortexTransport;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.AttributeKey;
import io.netty.util.concurrent.EventExecutor;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.FileChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import dev.pollen.tls.MutualTls;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fetches single pieces from parents over Vortex TCP. {@link #fetch} blocks (call it from a virtual
 * thread), streams the piece bytes in bounded slices straight to their offset in the task's content
 * file while computing the CRC-32, checks it against the parent's {@code crc32:} digest and only then
 * records the piece. A piece that fails any check is never recorded; its partially written bytes are
 * simply overwritten by the next attempt. Connections are reused per parent; all of a task's run on one
 * event loop.
 */
public final class VortexClient implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(VortexClient.class);
    private static final AttributeKey<VortexClientHandler> HANDLER = AttributeKey.valueOf(VortexClient.class, "handler");

    /**
     * How the client runs.
     *
     * @param maxIdlePerParent connections kept open per parent between pieces
     * @param idleTimeout an unused pooled connection is closed after this long
     */
    public record Options(VortexTransport transport, int ioThreads, int maxIdlePerParent, Duration idleTimeout, MutualTls tls) {
        public Options {
            Objects.requireNonNull(transport, "transport");
            Objects.requireNonNull(idleTimeout, "idleTimeout");
            if (!transport.available()) {
                throw new IllegalArgumentException("vortex.transport: " + transport + " (expected: an available transport; "
                        + "the native epoll library did not load)");
            }
            if (ioThreads < 1 || ioThreads > 256) {
                throw new IllegalArgumentException("threads.vortexClientEventLoops: " + ioThreads + " (expected: 1..256)");
            }
            if (maxIdlePerParent < 0 || maxIdlePerParent > 64) {
                throw new IllegalArgumentException("vortex.maxIdlePerParent: " + maxIdlePerParent + " (expected: 0..64)");
            }
            if (idleTimeout.compareTo(Duration.ofSeconds(1)) < 0) {
                throw new IllegalArgumentException("vortex.clientIdleTimeout: " + idleTimeout + " (expected: at least 1s)");
            }
        }

        public static Options defaults() {
            return new Options(VortexTransport.best(), 4, 4, Duration.ofSeconds(60), null);
        }

        public Options withTransport(VortexTransport newTransport) {
            return new Options(newTransport, ioThreads, maxIdlePerParent, idleTimeout, tls);
        }

        /** Mutual TLS to every parent (null: plain). */
        public Options withTls(MutualTls newTls) {
            return new Options(transport, ioThreads, maxIdlePerParent, idleTimeout, newTls);
        }

        /** Event loops that receive piece bytes ({@code threads.vortexClientEventLoops}). */
        public Options withIoThreads(int threads) {
            return new Options(transport, threads, maxIdlePerParent, idleTimeout, tls);
        }
    }

    private static final long DEADLINE_RECHECK_MILLIS = 200;

    private final EventLoopGroup group;
    private final List<EventLoop> loops = new ArrayList<>();
    private final ParentConnections connections;

    public VortexClient(Options options) {
        this.group = options.transport().newGroup(options.ioThreads(), "vortex-client");
        group.forEach(loop -> loops.add((EventLoop) loop));
        long idleMillis = options.idleTimeout().toMillis();
        Bootstrap bootstrap = new Bootstrap()
                .group(group)
                .channel(options.transport().socketChannel())
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.SO_KEEPALIVE, true)
                // Piece bytes arrive in bulk: reads of up to 1 MiB mean fewer syscalls and fewer file
                // writes per piece than Netty's 64 KiB default.
                .option(ChannelOption.RCVBUF_ALLOCATOR, new AdaptiveRecvByteBufAllocator(64 * 1024, 256 * 1024, 1024 * 1024))
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        VortexDecoder decoder = new VortexDecoder(VortexDecoder.Side.CLIENT);
                        VortexClientHandler handler = new VortexClientHandler(decoder);
                        // Netty strips the pipeline when a channel closes; the attribute outlives that,
                        // so a pooled connection that just died still has a handler to say so.
                        ch.attr(HANDLER).set(handler);
                        ch.pipeline().addLast(
                                new IdleStateHandler(0, 0, idleMillis, TimeUnit.MILLISECONDS),
                                decoder,
                                VortexEncoder.INSTANCE,
                                handler);
                        if (options.tls() != null) {
                            options.tls().addTo(ch.pipeline(), false);
                        }
                    }
                });
        this.connections = new ParentConnections(bootstrap, options.maxIdlePerParent());
    }

    /**
     * Fetches piece {@code number} of {@code target} from {@code parent}, writes it at its offset in the
     * task's content file and records it.
     *
     * @param timeout for the whole exchange: connecting, asking, and receiving every byte
     * @return the recorded piece
     * @throws VortexException with the reason: the parent's Error frame ({@code REMOTE_ERROR}), a digest
     *     mismatch, a piece other than the one asked for, a timeout, a lost connection, a local write failure
     * @throws IllegalArgumentException when the task has no such piece
     */
    public PieceRecord fetch(InetSocketAddress parent, StoredTask target, int number, Duration timeout)
            throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        return fetch(parent, target, number, () -> deadline);
    }

    /**
     * As {@link #fetch(InetSocketAddress, StoredTask, int, Duration)}, with a deadline ({@link System#nanoTime}
     * based) that may move while the piece arrives: it is read again every {@value #DEADLINE_RECHECK_MILLIS} ms,
     * so a caller can give up on a piece that turns out slow compared with others arriving meanwhile.
     */
    public PieceRecord fetch(InetSocketAddress parent, StoredTask target, int number, LongSupplier deadline)
            throws IOException, InterruptedException {
        PieceRecord record = receive(parent, target, number, target.content(), ExpectedPiece.of(target.metadata(), number).offset(),
                deadline);
        try {
            target.recordPiece(record);
        } catch (IOException e) {
            throw new VortexException(Reason.LOCAL_WRITE_FAILED, "cannot record piece " + number + " of task " + target.taskId()
                    + ": " + e.getMessage(), e);
        }
        log.debug("event=vortex_piece_fetched parent={} task={} piece={} bytes={}", parent, target.taskId(), number, record.length());
        return record;
    }

    /**
     * Receives piece {@code number} of {@code target} from {@code parent} into {@code into} from {@code intoOffset}
     * on, checked against the parent's digest, and records nothing: the caller decides where the bytes belong
     * (an endgame duplicate lands in a scratch file, never where another parent may be writing the same piece).
     */
    PieceRecord receive(InetSocketAddress parent, StoredTask target, int number, FileChannel into, long intoOffset,
                        LongSupplier deadline) throws IOException, InterruptedException {
        ensureNotOnEventLoop();
        String taskId = target.taskId();
        if (!Storage.isTaskId(taskId)) {
            throw new IllegalArgumentException("task id " + taskId + " cannot be asked for over Vortex (expected: 64 hex digits)");
        }
        ExpectedPiece expected = ExpectedPiece.of(target.metadata(), number);
        boolean allowPooled = true;
        while (true) {
            ParentConnections.Lease lease = connections.acquire(parent, loopOf(taskId), remaining(deadline.getAsLong(), parent, number),
                    allowPooled);
            PieceFetch fetch = new PieceFetch(parent.toString(), taskId, expected, into, intoOffset);
            Channel ch = lease.channel();
            start(ch, fetch);
            PieceFetch.Received received;
            try {
                received = await(fetch, ch, deadline, parent, number);
            } catch (VortexException e) {
                if (lease.reused() && e.reason() == Reason.CONNECTION_CLOSED && !fetch.answered()) {
                    // The parent had closed the pooled connection; that says nothing about the piece.
                    log.debug("event=vortex_stale_connection parent={} task={} piece={}", parent, taskId, number);
                    ch.close();
                    allowPooled = false;
                    continue;
                }
                if (e.reason().closesConnection()) {
                    ch.close();
                } else {
                    connections.release(parent, ch);
                }
                throw e;
            }
            connections.release(parent, ch);
            return new PieceRecord(number, expected.offset(), received.length(), received.crc32());
        }
    }

    /**
     * Every connection of a task is driven by one event loop, so one thread at a time writes the task's
     * content file: threads writing one file contend for its inode lock in the kernel (on ext4, spinning
     * on it cost 6% of all CPU in the swarm benchmark). Tasks spread over the loops.
     */
    private EventLoop loopOf(String taskId) {
        return loops.get(Math.floorMod(taskId.hashCode(), loops.size()));
    }

    private static void start(Channel ch, PieceFetch fetch) {
        VortexClientHandler handler = ch.attr(HANDLER).get();
        try {
            ch.eventLoop().execute(() -> {
                try {
                    handler.start(fetch);
                } catch (RuntimeException e) {
                    fetch.fail(e);
                }
            });
        } catch (RejectedExecutionException e) {
            fetch.fail(new VortexException(Reason.CONNECTION_CLOSED, "the Vortex client is closed", e));
        }
    }

    private static PieceFetch.Received await(PieceFetch fetch, Channel ch, LongSupplier deadline, InetSocketAddress parent,
                                             int number) throws VortexException, InterruptedException {
        try {
            while (true) {
                long left = deadline.getAsLong() - System.nanoTime();
                if (left <= 0) {
                    VortexException timeout = new VortexException(Reason.TIMEOUT, "piece " + number + " from parent " + parent
                            + " did not arrive in time (" + fetch.written() + " bytes received)");
                    stop(fetch, ch, timeout);
                    throw timeout;
                }
                try {
                    return fetch.result().get(Math.min(left, TimeUnit.MILLISECONDS.toNanos(DEADLINE_RECHECK_MILLIS)),
                            TimeUnit.NANOSECONDS);
                } catch (TimeoutException e) {
                    // Not there yet: read the deadline again.
                }
            }
        } catch (InterruptedException e) {
            stop(fetch, ch, e);
            throw e;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof VortexException v) {
                throw v;
            }
            throw new VortexException(Reason.CONNECTION_CLOSED, "fetching piece " + number + " from parent " + parent
                    + " failed: " + e.getCause(), e.getCause());
        }
    }

    /**
     * Abandons a fetch so no late byte can land in the file after the caller moved on: the fetch stops
     * writing, and the close is awaited because it runs on the event loop after any handler call in progress.
     */
    private static void stop(PieceFetch fetch, Channel ch, Throwable cause) {
        fetch.fail(cause);
        ch.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
    }

    private static long remaining(long deadline, InetSocketAddress parent, int number) throws VortexException {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
            throw new VortexException(Reason.TIMEOUT, "no time left to fetch piece " + number + " from parent " + parent);
        }
        return left;
    }

    private void ensureNotOnEventLoop() {
        for (EventExecutor loop : group) {
            if (loop.inEventLoop()) {
                throw new IllegalStateException("VortexClient.fetch blocks; call it from a virtual thread, not an event loop");
            }
        }
    }

    @Override
    public void close() {
        connections.close();
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }
}
