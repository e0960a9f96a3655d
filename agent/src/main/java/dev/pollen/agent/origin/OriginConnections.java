package dev.pollen.agent.origin;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.buffer.Unpooled;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.Deque;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;

/**
 * HTTP/1.1 exchanges with origins on Netty's epoll event loops. Keep-alive connections are pooled per scheme,
 * host and port; a response's body is read on the caller's thread ({@link OriginExchange}) from the bytes its
 * connection's loop receives, and the loop stops reading a connection whose unread bytes pile up.
 *
 * <p>Why not the JDK's HttpClient, which did this before: measured on a 256 MiB back-to-source download at 400
 * mbit (8 ranges at a time), its selector thread and the hand-offs to the body's readers took 0.8 of the daemon's
 * 1.8 CPU-s; here the loop reads into pooled direct buffers and the reader copies each once.
 *
 * <p>Names are resolved on the caller's thread (a slow DNS answer never holds a loop); a connection taken from
 * the pool that turns out to be closed by the origin (its keep-alive timeout) is replaced by a fresh one once, as
 * HTTP clients do, since the request never reached the origin.
 */
final class OriginConnections implements AutoCloseable {
    /** Event loops for every origin connection of the process: one pushes several Gbit/s. */
    private static final int EVENT_LOOPS = Math.min(2, Runtime.getRuntime().availableProcessors());
    /** Idle connections kept per origin: 8 ranges per task, a few tasks from one origin at once. */
    private static final int MAX_IDLE_PER_ORIGIN = 64;
    /** An idle connection older than this is closed rather than reused (origins close theirs after 5-75 s). */
    private static final long IDLE_NANOS = TimeUnit.SECONDS.toNanos(20);

    private final EventLoopGroup loops = new EpollEventLoopGroup(EVENT_LOOPS, new DefaultThreadFactory("origin-io", true));
    private final Bootstrap bootstrap;
    private final SSLContext tls;
    private final Duration connectTimeout;
    private final Duration readTimeout;
    private final Map<Route, Deque<Idle>> idle = new ConcurrentHashMap<>();
    private volatile boolean closed;

    /**
     * @param readTimeout how long the origin may take to answer a request, and then how long a body may stay silent
     */
    OriginConnections(Duration connectTimeout, Duration readTimeout, SSLContext tls) {
        this.tls = tls;
        this.connectTimeout = connectTimeout;
        this.readTimeout = readTimeout;
        this.bootstrap = new Bootstrap().group(loops).channel(EpollSocketChannel.class)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, connectTimeout.toMillis()))
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.RCVBUF_ALLOCATOR, new AdaptiveRecvByteBufAllocator(4096, 32 * 1024, 64 * 1024));
    }

    /** Where a connection goes: scheme, host and port. */
    record Route(boolean https, String host, int port) {
        static Route of(URI uri) {
            boolean https = "https".equalsIgnoreCase(uri.getScheme());
            int port = uri.getPort() != -1 ? uri.getPort() : https ? 443 : 80;
            return new Route(https, uri.getHost().toLowerCase(Locale.ROOT), port);
        }

        /** The Host header: the port only when it is not the scheme's default. */
        String authority() {
            return port == (https ? 443 : 80) ? host : host + ":" + port;
        }
    }

    private record Idle(Channel channel, long since) {
    }

    /**
     * Sends a GET of {@code uri} with {@code headers} (Host and User-Agent added when absent) and waits for the
     * answer's status and headers; the body is then the exchange's to read.
     */
    OriginExchange get(URI uri, HttpHeaders headers) throws IOException {
        Route route = Route.of(uri);
        Channel pooled = pooled(route);
        if (pooled != null) {
            OriginExchange exchange = send(pooled, route, uri, headers);
            try {
                exchange.awaitHead();
                return exchange;
            } catch (OriginExchange.ClosedBeforeAnswer e) {
                // The origin had closed the idle connection: the request never reached it, so a fresh one is sent.
            }
        }
        OriginExchange exchange = send(connect(route), route, uri, headers);
        try {
            exchange.awaitHead();
        } catch (OriginExchange.ClosedBeforeAnswer e) {
            throw new IOException(e.getMessage(), e);
        }
        return exchange;
    }

    private OriginExchange send(Channel channel, Route route, URI uri, HttpHeaders headers) {
        OriginExchange exchange = new OriginExchange(this, route, channel, uri, readTimeout);
        channel.pipeline().get(OriginExchange.Handler.class).begin(exchange);
        String path = (uri.getRawPath() == null || uri.getRawPath().isEmpty() ? "/" : uri.getRawPath())
                + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery());
        DefaultFullHttpRequest request = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, path, Unpooled.EMPTY_BUFFER);
        request.headers().add(headers);
        request.headers().set(HttpHeaderNames.HOST, route.authority());
        if (!request.headers().contains(HttpHeaderNames.USER_AGENT)) {
            request.headers().set(HttpHeaderNames.USER_AGENT, "pollen-dfdaemon");
        }
        channel.writeAndFlush(request).addListener(f -> {
            if (!f.isSuccess()) {
                exchange.failed(f.cause());
            }
        });
        return exchange;
    }

    private Channel connect(Route route) throws IOException {
        if (closed) {
            throw new IOException("the origin client is closed");
        }
        InetAddress address = InetAddress.getByName(route.host());
        SslHandler ssl = route.https() ? sslHandler(route) : null;
        ChannelFuture connected = bootstrap.clone().handler(new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                if (ssl != null) {
                    ch.pipeline().addLast(ssl);
                }
                ch.pipeline().addLast(new HttpClientCodec(8192, 64 * 1024, 256 * 1024), new OriginExchange.Handler());
            }
        }).connect(new InetSocketAddress(address, route.port()));
        await(connected, connectTimeout.plusSeconds(1));
        if (!connected.isSuccess()) {
            Throwable cause = connected.cause();
            if (cause instanceof ConnectTimeoutException || cause == null) {
                connected.channel().close();
                throw new HttpConnectTimeoutException("connect timed out");
            }
            throw cause instanceof IOException io ? io : new IOException(cause.toString(), cause);
        }
        Channel channel = connected.channel();
        if (ssl != null) {
            var handshake = ssl.handshakeFuture();
            await(handshake, readTimeout);
            if (!handshake.isSuccess()) {
                channel.close();
                Throwable cause = handshake.cause();
                if (cause == null) {
                    throw new HttpTimeoutException("TLS handshake not done within the piece timeout");
                }
                throw cause instanceof IOException io ? io : new IOException(cause.toString(), cause);
            }
        }
        return channel;
    }

    private SslHandler sslHandler(Route route) {
        SSLEngine engine = tls.createSSLEngine(route.host(), route.port());
        engine.setUseClientMode(true);
        SSLParameters parameters = engine.getSSLParameters();
        // The certificate must name the host, as the JDK's HTTPS clients check.
        parameters.setEndpointIdentificationAlgorithm("HTTPS");
        engine.setSSLParameters(parameters);
        return new SslHandler(engine);
    }

    private static void await(io.netty.util.concurrent.Future<?> future, Duration limit) throws InterruptedIOException {
        try {
            future.await(limit.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while connecting to an origin");
        }
    }

    private Channel pooled(Route route) {
        Deque<Idle> connections = idle.get(route);
        if (connections == null) {
            return null;
        }
        for (Idle candidate; (candidate = connections.pollLast()) != null; ) {
            if (candidate.channel().isActive() && System.nanoTime() - candidate.since() < IDLE_NANOS) {
                return candidate.channel();
            }
            candidate.channel().close();
        }
        return null;
    }

    /** A connection whose exchange ended cleanly, for the next request to the same origin. */
    void release(Route route, Channel channel) {
        Deque<Idle> connections = idle.computeIfAbsent(route, r -> new ConcurrentLinkedDeque<>());
        if (closed || !channel.isActive() || connections.size() >= MAX_IDLE_PER_ORIGIN) {
            channel.close();
            return;
        }
        connections.offerLast(new Idle(channel, System.nanoTime()));
        if (closed) {
            channel.close();
        }
    }

    @Override
    public void close() {
        closed = true;
        idle.values().forEach(connections -> connections.forEach(c -> c.channel().close()));
        idle.clear();
        loops.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
}
