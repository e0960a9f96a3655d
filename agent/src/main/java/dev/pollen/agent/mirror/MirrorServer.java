package dev.pollen.agent.mirror;

import dev.pollen.agent.config.ProxyConfig;
import dev.pollen.agent.metrics.AgentMetrics;
import dev.pollen.agent.origin.OriginPolicy;
import dev.pollen.agent.storage.ManifestStore;
import dev.pollen.agent.task.Downloader;
import dev.pollen.agent.task.TaskManager;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerExpectContinueHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The registry mirror (and plain HTTP proxy) on {@code proxy.server.ip:port}: HTTP/1.1 on event loops of its own,
 * requests handled on virtual threads of their own. Limits against bad clients: a request line of 8 KiB, headers of
 * 64 KiB (registry tokens are long), and {@code proxy.server.idleTimeout} to deliver a request's headers, each part
 * of its body, or read a response. Bodies (pushes through the proxy) are streamed to the registry, never held.
 */
public final class MirrorServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(MirrorServer.class);
    private static final int MAX_LINE = 8 * 1024;
    private static final int MAX_HEADERS = 64 * 1024;

    private final EventLoopGroup loops;
    private final ExecutorService requests;
    private final UpstreamClient upstream;
    private final Channel server;

    private MirrorServer(EventLoopGroup loops, ExecutorService requests, UpstreamClient upstream, Channel server) {
        this.loops = loops;
        this.requests = requests;
        this.upstream = upstream;
        this.server = server;
    }

    /**
     * @param connectTimeout and {@code responseTimeout}: for the registry, as for any origin
     *     ({@code download.backToSource.connectTimeout}, {@code download.pieceTimeout})
     * @param caCerts CAs trusted for https registries besides the system's ({@code download.backToSource.caCerts})
     * @param policy checks every upstream address, redirects included (the origins' deny list)
     * @param manifests where manifests by digest are kept
     * @param metrics counts each request by route and status
     */
    public static MirrorServer start(ProxyConfig config, TaskManager tasks, ManifestStore manifests, Duration connectTimeout,
                                     Duration responseTimeout, List<X509Certificate> caCerts, OriginPolicy policy, Clock clock,
                                     AgentMetrics metrics) throws IOException {
        UpstreamClient upstream = new UpstreamClient(connectTimeout, responseTimeout, caCerts, policy);
        ExecutorService requests = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("mirror-request-", 0).factory());
        EventLoopGroup loops = new NioEventLoopGroup(config.server().eventLoops(), new DefaultThreadFactory("mirror-loop", true));
        PassThrough passThrough = new PassThrough(upstream);
        AccessCheck access = new AccessCheck(config.authorization(), upstream, passThrough, clock);
        BlobResponder blobs = new BlobResponder(tasks, new Downloader(tasks), passThrough, access);
        ManifestResponder manifestResponder = new ManifestResponder(manifests, config.manifests(), access, passThrough, clock);
        Router router = new Router(config);
        Duration idle = config.server().idleTimeout();
        try {
            Channel server = new ServerBootstrap()
                    .group(loops)
                    .channel(NioServerSocketChannel.class)
                    .option(ChannelOption.SO_REUSEADDR, true)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline()
                                    .addLast(new HttpServerCodec(MAX_LINE, MAX_HEADERS, 8192))
                                    // What the aggregator did before bodies were streamed: a client that asks first gets its 100.
                                    .addLast(new HttpServerExpectContinueHandler())
                                    .addLast(new MirrorHandler(router, blobs, manifestResponder, passThrough, requests, idle, metrics));
                        }
                    })
                    .bind(new InetSocketAddress(config.server().ip(), config.server().port()))
                    .syncUninterruptibly()
                    .channel();
            MirrorServer started = new MirrorServer(loops, requests, upstream, server);
            log.info("event=mirror_started address={} default_registry={} insecure_registries={} rules={} authorization={} manifests={}",
                    started.address(), config.registryMirror().addr(), config.registryMirror().insecureRegistries(),
                    config.rules().stream().map(ProxyConfig.Rule::regex).toList(), config.authorization().enable() ? "checked" : "off",
                    config.manifests().enable() ? "kept" : "passthrough");
            return started;
        } catch (Exception e) { // a BindException arrives unchecked from syncUninterruptibly
            loops.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            requests.shutdownNow();
            upstream.close();
            throw new IOException("cannot listen on " + config.server().ip() + ":" + config.server().port()
                    + " for the registry mirror: " + e.getMessage() + " (fix: free the port or set proxy.server.port)", e);
        }
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) server.localAddress();
    }

    /** Stops accepting, ends the connections and their requests' threads, then the upstream client. */
    @Override
    public void close() {
        server.close().syncUninterruptibly();
        requests.shutdownNow();
        loops.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        upstream.close();
    }
}
