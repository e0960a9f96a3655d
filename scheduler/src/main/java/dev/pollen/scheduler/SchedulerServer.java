package dev.pollen.scheduler;

import io.grpc.Server;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The scheduler's composition root: the cluster state, the gRPC service with health, host expiry. */
public final class SchedulerServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SchedulerServer.class);

    private final Server server;
    private final ScheduledExecutorService housekeeping;
    private final SeedTrigger seeds;
    private final HealthStatusManager health;

    private SchedulerServer(Server server, ScheduledExecutorService housekeeping, SeedTrigger seeds, HealthStatusManager health) {
        this.server = server;
        this.health = health;
        this.housekeeping = housekeeping;
        this.seeds = seeds;
    }

    public static SchedulerServer start(InetSocketAddress address, SchedulingConfig config, Clock clock) throws IOException {
        Cluster cluster = new Cluster(clock, config);
        HealthStatusManager health = new HealthStatusManager();
        ScheduledExecutorService housekeeping = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().name("scheduler-timer").daemon().factory());
        SeedTrigger seeds = new SeedTrigger();
        // Every handler is a few map operations under one short lock and never blocks, so it runs on
        // the event loop that read the message: no hand-off to a thread pool per message.
        Server server = NettyServerBuilder.forAddress(address)
                .directExecutor()
                .addService(new SchedulerService(cluster, seeds, housekeeping))
                .addService(health.getHealthService())
                .build()
                .start();
        health.setStatus("", ServingStatus.SERVING);
        health.setStatus("scheduler.v2.Scheduler", ServingStatus.SERVING);
        long every = Math.max(1, config.hostTtl().toMillis() / 3);
        housekeeping.scheduleWithFixedDelay(cluster::expireHosts, every, every, TimeUnit.MILLISECONDS);
        log.info("event=ready port={} pid={}", server.getPort(), ProcessHandle.current().pid());
        return new SchedulerServer(server, housekeeping, seeds, health);
    }

    public int port() {
        return server.getPort();
    }

    @Override
    public void close() {
        health.enterTerminalState();
        housekeeping.shutdownNow();
        server.shutdown();
        try {
            if (!server.awaitTermination(10, TimeUnit.SECONDS)) {
                server.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            server.shutdownNow();
        }
        seeds.close();
    }
}
