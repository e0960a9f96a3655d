package dev.pollen.agent.server;

import dev.pollen.agent.config.DownloadConfig;
import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The local API: gRPC over a Unix domain socket on Netty's native epoll transport, with the
 * standard health service. Binding goes through {@link SocketGuard}; shutdown stops accepting, lets
 * in-flight calls finish within the grace period, then closes connections and event loops.
 */
public final class UdsGrpcServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(UdsGrpcServer.class);

    private final SocketGuard guard;
    private final Server server;
    private final EventLoopGroup boss;
    private final EventLoopGroup workers;
    private final HealthStatusManager health;
    private final Duration grace;

    private UdsGrpcServer(SocketGuard guard, Server server, EventLoopGroup boss, EventLoopGroup workers,
                          HealthStatusManager health, Duration grace) {
        this.guard = guard;
        this.server = server;
        this.boss = boss;
        this.workers = workers;
        this.health = health;
        this.grace = grace;
    }

    /** Binds on the path {@code guard} has cleared; the guard stays the caller's to close after this server. */
    public static UdsGrpcServer start(SocketGuard guard, DownloadConfig.Server config, List<BindableService> services,
                                      ExecutorService executor) throws IOException {
        EventLoopGroup boss = new EpollEventLoopGroup(1, new DefaultThreadFactory("uds-boss", true));
        EventLoopGroup workers = new EpollEventLoopGroup(2, new DefaultThreadFactory("uds-io", true));
        HealthStatusManager health = new HealthStatusManager();
        try {
            NettyServerBuilder builder = NettyServerBuilder.forAddress(new DomainSocketAddress(config.socketPath().toFile()))
                    .channelType(EpollServerDomainSocketChannel.class)
                    .bossEventLoopGroup(boss)
                    .workerEventLoopGroup(workers)
                    .executor(executor)
                    .addService(health.getHealthService());
            services.forEach(builder::addService);
            Server server = builder.build().start();
            guard.bound(config.socketModeBits());
            log.info("event=uds_listening path={} mode={}", config.socketPath(), config.socketMode());
            return new UdsGrpcServer(guard, server, boss, workers, health, config.shutdownGracePeriod());
        } catch (IOException | RuntimeException e) {
            boss.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            workers.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            throw e;
        }
    }

    public HealthStatusManager health() {
        return health;
    }

    @Override
    public void close() {
        health.enterTerminalState();
        server.shutdown();
        try {
            if (!server.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                log.warn("event=uds_grace_expired grace={}ms action=cancel_calls", grace.toMillis());
                server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            server.shutdownNow();
        }
        boss.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        workers.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        log.info("event=uds_closed path={}", guard.socket());
    }
}
