package dev.pollen.agent.upload;

import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import dev.pollen.tls.MutualTls;
import io.grpc.netty.NettyServerBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * DfdaemonUpload over TCP for other peers and the scheduler, on event loops of its own so that peer
 * traffic never delays the local socket's API. Connections are pinged while quiet, so a peer that
 * vanished without closing (powered off, partitioned) is dropped and its streams cancelled: a child's
 * SyncPieces then gives its task lease back instead of holding it forever. A caller's deadline does not
 * end SyncPieces or SyncHost ({@link StreamingDeadlines}), as on Dragonfly's dfdaemon. {@code grpc.health.v1} answers
 * here too, NOT_SERVING until the root says the daemon serves ({@link #health}).
 */
public final class UploadGrpcServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(UploadGrpcServer.class);

    /**
     * How a quiet connection is probed: a ping after {@code time} without reads, dropped when the ack takes
     * longer than {@code timeout}. Clients may ping as often as every {@code permitTime}, with or without
     * calls in flight, before the server calls it abuse and drops them (gRPC's default: every 5 min, and
     * only during calls). gRPC pings no sooner than 10 s after the last read, whatever {@code time} says.
     */
    public record KeepAlive(Duration time, Duration timeout, Duration permitTime) {
        /** A vanished peer is noticed within about 30 s. */
        public static final KeepAlive DEFAULT = new KeepAlive(Duration.ofSeconds(20), Duration.ofSeconds(10),
                Duration.ofSeconds(10));
    }

    /** The upload service's name in health checks. */
    public static final String SERVICE = "dfdaemon.v2.DfdaemonUpload";

    private final Server server;
    private final EventLoopGroup boss;
    private final EventLoopGroup workers;
    private final HealthStatusManager health;

    private UploadGrpcServer(Server server, EventLoopGroup boss, EventLoopGroup workers, HealthStatusManager health) {
        this.server = server;
        this.health = health;
        this.boss = boss;
        this.workers = workers;
    }

    /**
     * @param guard sees every call first (the upload service's {@link DownloadTaskGuard})
     * @param executor where calls run: the upload server's own, shared with neither the local API nor piece work
     * @param eventLoops Netty event loops for peer connections ({@code threads.uploadEventLoops})
     * @param tls mutual TLS for every peer ({@code upload.server.*}), or null for plaintext
     */
    public static UploadGrpcServer start(InetSocketAddress address, BindableService service, ServerInterceptor guard,
                                         ExecutorService executor, int eventLoops, KeepAlive keepAlive, MutualTls tls)
            throws IOException {
        EventLoopGroup boss = new EpollEventLoopGroup(1, new DefaultThreadFactory("upload-boss", true));
        EventLoopGroup workers = new EpollEventLoopGroup(eventLoops, new DefaultThreadFactory("upload-io", true));
        HealthStatusManager health = new HealthStatusManager();
        health.setStatus("", ServingStatus.NOT_SERVING);
        health.setStatus(SERVICE, ServingStatus.NOT_SERVING);
        try {
            // The certificate check comes before every other: a peer without one learns nothing else.
            ServerInterceptor[] interceptors = tls == null ? new ServerInterceptor[] {guard}
                    : new ServerInterceptor[] {guard, tls.requireClientCertificate()};
            NettyServerBuilder builder = NettyServerBuilder.forAddress(address);
            if (tls != null) {
                builder.sslContext(tls.grpcServer());
            }
            Server server = builder
                    .channelType(EpollServerSocketChannel.class)
                    .bossEventLoopGroup(boss)
                    .workerEventLoopGroup(workers)
                    .executor(executor)
                    .keepAliveTime(keepAlive.time().toNanos(), TimeUnit.NANOSECONDS)
                    .keepAliveTimeout(keepAlive.timeout().toNanos(), TimeUnit.NANOSECONDS)
                    .permitKeepAliveTime(keepAlive.permitTime().toNanos(), TimeUnit.NANOSECONDS)
                    .permitKeepAliveWithoutCalls(true)
                    .addStreamTracerFactory(new StreamingDeadlines())
                    .addService(ServerInterceptors.intercept(service, interceptors))
                    .addService(tls == null ? health.getHealthService().bindService()
                            : ServerInterceptors.intercept(health.getHealthService(), tls.requireClientCertificate()))
                    .build()
                    .start();
            log.info("event=upload_listening address={} port={}", address.getHostString(), server.getPort());
            return new UploadGrpcServer(server, boss, workers, health);
        } catch (IOException | RuntimeException e) {
            boss.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            workers.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            throw new IOException("cannot listen for peers on " + address + ": " + e.getMessage()
                    + " (fix: upload.server.port, or stop what uses it)", e);
        }
    }

    public int port() {
        return server.getPort();
    }

    /** Set by the root from the daemon's health verdict, as the socket's. */
    public HealthStatusManager health() {
        return health;
    }

    @Override
    public void close() {
        health.enterTerminalState();
        server.shutdown();
        try {
            if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
                server.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            server.shutdownNow();
        }
        boss.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        workers.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
