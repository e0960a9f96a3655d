package dev.pollen.scheduler;

import io.grpc.Server;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The scheduler's composition root: the cluster state, the gRPC service with health, host expiry. */
public final class SchedulerServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SchedulerServer.class);

    private static final Duration EXPIRY_SWEEP = Duration.ofSeconds(1);

    private final Server server;
    private final ScheduledExecutorService housekeeping;
    private final UploadCalls uploads;
    private final ExecutorService preheats;
    private final HealthStatusManager health;
    private final DecisionLatency latency;
    private final EventLoopGroup boss;
    private final EventLoopGroup workers;

    private SchedulerServer(Server server, ScheduledExecutorService housekeeping, UploadCalls uploads, ExecutorService preheats,
                            HealthStatusManager health, DecisionLatency latency, EventLoopGroup boss, EventLoopGroup workers) {
        this.boss = boss;
        this.workers = workers;
        this.server = server;
        this.health = health;
        this.housekeeping = housekeeping;
        this.uploads = uploads;
        this.preheats = preheats;
        this.latency = latency;
    }

    public static SchedulerServer start(InetSocketAddress address, SchedulingConfig config, Clock clock) throws IOException {
        return start(address, config, clock, Duration.ofMinutes(1));
    }

    /** @param statsInterval how often the decision latency of the last interval is logged */
    public static SchedulerServer start(InetSocketAddress address, SchedulingConfig config, Clock clock, Duration statsInterval)
            throws IOException {
        Cluster cluster = new Cluster(clock, config);
        HealthStatusManager health = new HealthStatusManager();
        ScheduledExecutorService housekeeping = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().name("scheduler-timer").daemon().factory());
        UploadCalls uploads = new UploadCalls();
        // A preheat waits on its hosts' downloads for minutes: on virtual threads of its own, never the event loop.
        ExecutorService preheats = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("preheat-", 0).factory());
        DecisionLatency latency = new DecisionLatency();
        // Every handler is a few map operations under one lock and never blocks, so it runs on the event
        // loop that read the message: no hand-off to a thread pool per message. One event loop: the
        // handlers serialise on the cluster lock anyway, and a lock holder descheduled among several
        // loops would stall the others for a whole time slice.
        EventLoopGroup boss = new EpollEventLoopGroup(1, new DefaultThreadFactory("scheduler-accept", true));
        EventLoopGroup workers = new EpollEventLoopGroup(1, new DefaultThreadFactory("scheduler-io", true));
        Server server = NettyServerBuilder.forAddress(address)
                .channelType(EpollServerSocketChannel.class)
                .bossEventLoopGroup(boss)
                .workerEventLoopGroup(workers)
                .directExecutor()
                .addService(new SchedulerService(cluster, new SeedTrigger(uploads), housekeeping, latency))
                .addService(new PreheatService(cluster, uploads, preheats))
                .addService(health.getHealthService())
                .build()
                .start();
        health.setStatus("", ServingStatus.SERVING);
        health.setStatus("scheduler.v2.Scheduler", ServingStatus.SERVING);
        health.setStatus("pollen.scheduler.v1.Preheat", ServingStatus.SERVING);
        // Every second: hosts announcing every few seconds leave within seconds of their last announcement.
        long every = Math.max(1, Math.min(EXPIRY_SWEEP.toMillis(), config.hostTtl().toMillis() / 3));
        housekeeping.scheduleWithFixedDelay(cluster::expireHosts, every, every, TimeUnit.MILLISECONDS);
        long stats = statsInterval.toMillis();
        housekeeping.scheduleAtFixedRate(() -> logLatency(latency), stats, stats, TimeUnit.MILLISECONDS);
        log.info("event=ready port={} pid={}", server.getPort(), ProcessHandle.current().pid());
        return new SchedulerServer(server, housekeeping, uploads, preheats, health, latency, boss, workers);
    }

    /** One line per interval with decisions in it: how many, and how long they took inside the scheduler. */
    private static void logLatency(DecisionLatency latency) {
        DecisionLatency.Window w = latency.takeWindow();
        if (w != null) {
            log.info("event=decision_latency decisions={} p50_us={} p99_us={} max_us={}", w.decisions(), w.p50Micros(),
                    w.p99Micros(), w.maxMicros());
        }
    }

    public int port() {
        return server.getPort();
    }

    @Override
    public void close() {
        health.enterTerminalState();
        housekeeping.shutdownNow();
        logLatency(latency);
        server.shutdown();
        try {
            if (!server.awaitTermination(10, TimeUnit.SECONDS)) {
                server.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            server.shutdownNow();
        }
        preheats.shutdownNow();
        uploads.close();
        boss.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        workers.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
}
