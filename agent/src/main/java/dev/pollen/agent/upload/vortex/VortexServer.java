package dev.pollen.agent.upload.vortex;

import dev.pollen.agent.vortex.VortexDecoder;
import dev.pollen.agent.vortex.VortexEncoder;
import dev.pollen.agent.vortex.VortexTransport;
import dev.pollen.agent.vortex.VortexWire;
import dev.pollen.policy.UploadSlots;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.handler.traffic.GlobalTrafficShapingHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.Objects;
import dev.pollen.tls.MutualTls;
import io.netty.handler.stream.ChunkedWriteHandler;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Vortex TCP server (default port {@value VortexWire#DEFAULT_PORT}): answers DownloadPiece with the
 * PieceContent header and then the piece bytes straight from the content file (sendfile), on event loops
 * of its own so piece traffic never delays the local API. Shutdown stops accepting, lets requests being
 * answered finish within the drain timeout, then closes connections and the event loops.
 */
public final class VortexServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(VortexServer.class);

    /**
     * How the server runs.
     *
     * @param idleTimeout a connection with neither reads nor write progress for this long is closed
     * @param drainTimeout how long shutdown waits for pieces being sent
     * @param concurrentPieceLimit the upload slots: pieces sent at once over all connections (0: no cap); more
     *     requests wait in a short line
     * @param slotWait how long a request waits for a slot before it is answered BUSY
     */
    public static final Duration DEFAULT_SLOT_WAIT = Duration.ofMillis(200);

    public record Options(InetSocketAddress address, VortexTransport transport, int ioThreads, Duration idleTimeout,
                          Duration drainTimeout, long rateLimitBytesPerSecond, int concurrentPieceLimit, Duration slotWait,
                          MutualTls tls) {
        public Options {
            Objects.requireNonNull(address, "address");
            Objects.requireNonNull(transport, "transport");
            Objects.requireNonNull(idleTimeout, "idleTimeout");
            Objects.requireNonNull(drainTimeout, "drainTimeout");
            Objects.requireNonNull(slotWait, "slotWait");
            if (!transport.available()) {
                throw new IllegalArgumentException("vortex.transport: " + transport + " (expected: an available transport; "
                        + "the native epoll library did not load)");
            }
            if (ioThreads < 1 || ioThreads > 256) {
                throw new IllegalArgumentException("threads.vortexServerEventLoops: " + ioThreads + " (expected: 1..256)");
            }
            if (idleTimeout.compareTo(Duration.ofSeconds(1)) < 0) {
                throw new IllegalArgumentException("vortex.idleTimeout: " + idleTimeout + " (expected: at least 1s)");
            }
            if (rateLimitBytesPerSecond < 0) {
                throw new IllegalArgumentException("upload.rateLimit: " + rateLimitBytesPerSecond + " (expected: 0 for none, or bytes per second)");
            }
            if (concurrentPieceLimit < 0) {
                throw new IllegalArgumentException("upload.concurrentPieceLimit: " + concurrentPieceLimit
                        + " (expected: 0 for none, or more)");
            }
            if (slotWait.isNegative()) {
                throw new IllegalArgumentException("upload.slotWait: " + slotWait + " (expected: 0 or more)");
            }
            if (drainTimeout.isNegative()) {
                throw new IllegalArgumentException("vortex.drainTimeout: " + drainTimeout + " (expected: 0 or more)");
            }
        }

        /**
         * Port {@value VortexWire#DEFAULT_PORT} on all addresses, the best transport, 4 I/O threads, no caps
         * (a slot wait of {@link #DEFAULT_SLOT_WAIT} once slots are set).
         */
        public static Options defaults() {
            return new Options(new InetSocketAddress(VortexWire.DEFAULT_PORT), VortexTransport.best(), 4,
                    Duration.ofMinutes(5), Duration.ofSeconds(10), 0, 0, DEFAULT_SLOT_WAIT, null);
        }

        public Options withAddress(InetSocketAddress newAddress) {
            return new Options(newAddress, transport, ioThreads, idleTimeout, drainTimeout, rateLimitBytesPerSecond,
                    concurrentPieceLimit, slotWait, tls);
        }

        public Options withTransport(VortexTransport newTransport) {
            return new Options(address, newTransport, ioThreads, idleTimeout, drainTimeout, rateLimitBytesPerSecond,
                    concurrentPieceLimit, slotWait, tls);
        }

        /** Event loops that send piece bytes ({@code threads.vortexServerEventLoops}). */
        public Options withIoThreads(int threads) {
            return new Options(address, transport, threads, idleTimeout, drainTimeout, rateLimitBytesPerSecond,
                    concurrentPieceLimit, slotWait, tls);
        }

        /** Caps the bytes per second all uploads together send (0: no cap). */
        public Options withRateLimit(long bytesPerSecond) {
            return new Options(address, transport, ioThreads, idleTimeout, drainTimeout, bytesPerSecond, concurrentPieceLimit,
                    slotWait, tls);
        }

        /** Caps the pieces sent at once over all connections (0: no cap). */
        public Options withConcurrentPieceLimit(int limit) {
            return new Options(address, transport, ioThreads, idleTimeout, drainTimeout, rateLimitBytesPerSecond, limit,
                    slotWait, tls);
        }

        /** Mutual TLS for every connection (null: plain): pieces then go through TLS in chunks, not by sendfile. */
        public Options withTls(MutualTls newTls) {
            return new Options(address, transport, ioThreads, idleTimeout, drainTimeout, rateLimitBytesPerSecond,
                    concurrentPieceLimit, slotWait, newTls);
        }

        /** How long a request waits for an upload slot before it is answered BUSY ({@code upload.slotWait}). */
        public Options withSlotWait(Duration wait) {
            return new Options(address, transport, ioThreads, idleTimeout, drainTimeout, rateLimitBytesPerSecond,
                    concurrentPieceLimit, wait, tls);
        }
    }

    private final Options options;
    private final EventLoopGroup boss;
    private final EventLoopGroup workers;
    private final Channel listener;
    private final InetSocketAddress address;
    private final ChannelGroup connections;
    private final InFlight inFlight;
    private final VortexServerStats stats;

    private VortexServer(Options options, EventLoopGroup boss, EventLoopGroup workers, Channel listener,
                         ChannelGroup connections, InFlight inFlight, VortexServerStats stats) {
        this.options = options;
        this.boss = boss;
        this.workers = workers;
        this.listener = listener;
        this.address = (InetSocketAddress) listener.localAddress();
        this.connections = connections;
        this.inFlight = inFlight;
        this.stats = stats;
    }

    /**
     * Binds and starts serving.
     *
     * @param lookups where {@link UploadPieces#lease} runs (the daemon's virtual threads), off the event loops
     */
    public static VortexServer start(Options options, UploadPieces pieces, Executor lookups, Clock clock) throws IOException {
        EventLoopGroup boss = options.transport().newGroup(1, "vortex-accept");
        EventLoopGroup workers = options.transport().newGroup(options.ioThreads(), "vortex-io");
        ChannelGroup connections = new DefaultChannelGroup("vortex-connections", GlobalEventExecutor.INSTANCE);
        InFlight inFlight = new InFlight();
        UploadSlots slots = new UploadSlots(options.concurrentPieceLimit());
        VortexServerStats stats = new VortexServerStats(slots, new UploadMeter(System::nanoTime));
        long idleMillis = options.idleTimeout().toMillis();
        // One shaper for every connection: the cap is the node's upload budget, however many children.
        GlobalTrafficShapingHandler shaper = options.rateLimitBytesPerSecond() > 0
                ? new GlobalTrafficShapingHandler(workers, options.rateLimitBytesPerSecond(), 0) : null;
        if (shaper != null) {
            workers.terminationFuture().addListener(done -> shaper.release());
        }
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(boss, workers)
                .channel(options.transport().serverChannel())
                .option(ChannelOption.SO_BACKLOG, 1024)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.SO_KEEPALIVE, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        connections.add(ch);
                        if (options.tls() != null) {
                            // Piece bytes then reach TLS as chunks of the file (sendfile cannot pass through it).
                            ch.pipeline().addLast(new ChunkedWriteHandler());
                            options.tls().addTo(ch.pipeline(), true);
                        }
                        if (shaper != null) {
                            ch.pipeline().addLast(shaper);
                        }
                        ch.pipeline().addLast(
                                // observeOutput: a slow but moving download is not idle; a stalled one is.
                                new IdleStateHandler(true, 0, 0, idleMillis, TimeUnit.MILLISECONDS),
                                new VortexDecoder(VortexDecoder.Side.SERVER),
                                VortexEncoder.INSTANCE,
                                new VortexServerHandler(pieces, lookups, clock, stats, inFlight, slots,
                                        options.slotWait()));
                    }
                });
        ChannelFuture bound = bootstrap.bind(options.address()).awaitUninterruptibly();
        if (!bound.isSuccess()) {
            shutdown(boss, workers, Duration.ZERO);
            throw new IOException("cannot listen for Vortex piece traffic on " + options.address() + ": "
                    + bound.cause().getMessage() + " (fix: free the port or configure another Vortex port)", bound.cause());
        }
        VortexServer server = new VortexServer(options, boss, workers, bound.channel(), connections, inFlight, stats);
        log.info("event=vortex_server_started address={} transport={} io_threads={} upload_slots={} slot_wait_ms={}",
                server.address(), options.transport(), options.ioThreads(), options.concurrentPieceLimit(),
                options.slotWait().toMillis());
        return server;
    }

    /** The bound address (the real port when started on port 0). */
    public InetSocketAddress address() {
        return address;
    }

    public VortexTransport transport() {
        return options.transport();
    }

    public VortexServerStats stats() {
        return stats;
    }

    @Override
    public void close() {
        listener.close().awaitUninterruptibly();
        int abandoned;
        try {
            abandoned = inFlight.awaitIdle(options.drainTimeout());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            abandoned = inFlight.count();
        }
        connections.close().awaitUninterruptibly(options.drainTimeout().toMillis() + 1000);
        shutdown(boss, workers, options.drainTimeout());
        log.info("event=vortex_server_stopped address={} pieces_served={} busy_answers={} in_flight_abandoned={}", address,
                stats.piecesServed(), stats.busyAnswers(), abandoned);
    }

    private static void shutdown(EventLoopGroup boss, EventLoopGroup workers, Duration timeout) {
        long millis = Math.max(100, timeout.toMillis());
        boss.shutdownGracefully(0, millis, TimeUnit.MILLISECONDS);
        workers.shutdownGracefully(0, millis, TimeUnit.MILLISECONDS);
        boss.terminationFuture().awaitUninterruptibly(millis + 1000);
        workers.terminationFuture().awaitUninterruptibly(millis + 1000);
    }
}
