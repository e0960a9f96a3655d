package dev.pollen.agent.api;

import dev.pollen.agent.config.DownloadConfig;
import dev.pollen.proto.dfdaemon.v2.DfdaemonDownloadGrpc;
import io.grpc.BindableService;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallExecutorSupplier;
import io.grpc.health.v1.HealthGrpc;
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
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The local API: gRPC over a Unix domain socket on Netty's native epoll transport, with the
 * standard health service. Binding goes through {@link SocketGuard}; shutdown stops accepting, lets
 * in-flight calls finish within the grace period, then closes connections and event loops.
 *
 * <p>Threads of its own, shared with nothing else in the daemon: event loops, a small pool of platform
 * threads for the short calls ({@link #CONTROL}: health checks and stats answer within milliseconds
 * however busy piece work, uploads and origin I/O keep the virtual threads' carriers), and virtual
 * threads for the calls that block for long (DownloadTask waits for a whole download, deletes remove
 * whole tasks from disk).
 */
public final class UdsGrpcServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(UdsGrpcServer.class);

    /**
     * Health checks only look up a status in memory: they run on the socket's event loop itself, with no
     * hand-over to another thread that could be waiting for a CPU.
     */
    static final Set<String> ON_EVENT_LOOP = Set.of(
            HealthGrpc.getCheckMethod().getFullMethodName(),
            HealthGrpc.getWatchMethod().getFullMethodName());

    /** The calls that never block for long: they run on the control threads, the rest on virtual threads. */
    static final Set<String> CONTROL = Set.of(
            DfdaemonDownloadGrpc.getStatTaskMethod().getFullMethodName(),
            DfdaemonDownloadGrpc.getStatLocalTaskMethod().getFullMethodName(),
            DfdaemonDownloadGrpc.getListLocalTasksMethod().getFullMethodName());

    /**
     * @param eventLoops Netty event loops for the socket's connections
     * @param controlThreads platform threads for the {@link #CONTROL} calls
     */
    public record Threads(int eventLoops, int controlThreads) {
    }

    private final SocketGuard guard;
    private final Server server;
    private final EventLoopGroup boss;
    private final EventLoopGroup workers;
    private final ExecutorService control;
    private final ExecutorService blocking;
    private final HealthStatusManager health;
    private final Duration grace;

    private UdsGrpcServer(SocketGuard guard, Server server, EventLoopGroup boss, EventLoopGroup workers,
                          ExecutorService control, ExecutorService blocking, HealthStatusManager health, Duration grace) {
        this.guard = guard;
        this.server = server;
        this.boss = boss;
        this.workers = workers;
        this.control = control;
        this.blocking = blocking;
        this.health = health;
        this.grace = grace;
    }

    /** Binds on the path {@code guard} has cleared; the guard stays the caller's to close after this server. */
    public static UdsGrpcServer start(SocketGuard guard, DownloadConfig.Server config, List<BindableService> services,
                                      Threads threads) throws IOException {
        // The control plane's threads ask the OS for a higher priority than piece traffic's. The JVM passes it
        // on only with -XX:ThreadPriorityPolicy=1 (bin/dfdaemon sets it), and the kernel grants a raise only
        // to a process allowed one (root, CAP_SYS_NICE); otherwise it is ignored and nothing else changes.
        EventLoopGroup boss = new EpollEventLoopGroup(1, new DefaultThreadFactory("uds-boss", true, Thread.MAX_PRIORITY));
        EventLoopGroup workers = new EpollEventLoopGroup(threads.eventLoops(),
                new DefaultThreadFactory("uds-io", true, Thread.MAX_PRIORITY));
        ExecutorService control = Executors.newFixedThreadPool(threads.controlThreads(),
                Thread.ofPlatform().name("uds-control-", 0).daemon().priority(Thread.MAX_PRIORITY).factory());
        ExecutorService blocking = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("uds-call-", 0).factory());
        HealthStatusManager health = new HealthStatusManager();
        // The method is known before a call's first message: the long ones move to virtual threads there.
        ServerCallExecutorSupplier byMethod = new ServerCallExecutorSupplier() {
            @Override
            public <ReqT, RespT> Executor getExecutor(ServerCall<ReqT, RespT> call, Metadata headers) {
                String method = call.getMethodDescriptor().getFullMethodName();
                if (ON_EVENT_LOOP.contains(method)) {
                    return Runnable::run;
                }
                return CONTROL.contains(method) ? control : blocking;
            }
        };
        try {
            NettyServerBuilder builder = NettyServerBuilder.forAddress(new DomainSocketAddress(config.socketPath().toFile()))
                    .channelType(EpollServerDomainSocketChannel.class)
                    .bossEventLoopGroup(boss)
                    .workerEventLoopGroup(workers)
                    .executor(control)
                    .callExecutor(byMethod)
                    .addService(health.getHealthService());
            services.forEach(builder::addService);
            Server server = builder.build().start();
            guard.bound(config.socketModeBits());
            log.info("event=uds_listening path={} mode={}", config.socketPath(), config.socketMode());
            return new UdsGrpcServer(guard, server, boss, workers, control, blocking, health, config.shutdownGracePeriod());
        } catch (IOException | RuntimeException e) {
            boss.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            workers.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            control.shutdownNow();
            blocking.shutdownNow();
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
        control.shutdownNow();
        blocking.shutdownNow();
        log.info("event=uds_closed path={}", guard.socket());
    }
}
