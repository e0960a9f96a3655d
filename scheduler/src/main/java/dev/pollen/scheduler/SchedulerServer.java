package dev.pollen.scheduler;

import dev.pollen.monitoring.Endpoints;
import dev.pollen.monitoring.Heartbeat;
import dev.pollen.monitoring.JvmMetrics;
import dev.pollen.monitoring.MonitoringServer;
import dev.pollen.monitoring.Readiness;
import io.grpc.Server;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import dev.pollen.tls.MutualTls;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The scheduler's composition root: the cluster state, the gRPC service with health, host expiry, and the monitoring
 * port ({@code GET /metrics}, {@code GET /healthy}, on one port).
 */
public final class SchedulerServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SchedulerServer.class);

    private static final Duration EXPIRY_SWEEP = Duration.ofSeconds(1);
    /** The expiry sweep (every second, under the cluster lock) silent this long means a wedged scheduler (/livez). */
    private static final Duration HEARTBEAT_LIMIT = Duration.ofSeconds(60);

    private final Server server;
    private final ScheduledExecutorService housekeeping;
    private final UploadCalls uploads;
    private final ExecutorService preheats;
    private final HealthStatusManager health;
    private final Decisions decisions;
    private final EventLoopGroup boss;
    private final EventLoopGroup workers;
    private final Readiness readiness;
    private final MonitoringServer monitoring;
    private final PrometheusMeterRegistry registry;
    private final AutoCloseable jvmMetrics;

    private SchedulerServer(Server server, ScheduledExecutorService housekeeping, UploadCalls uploads, ExecutorService preheats,
                            HealthStatusManager health, Decisions decisions, EventLoopGroup boss, EventLoopGroup workers,
                            Readiness readiness, MonitoringServer monitoring, PrometheusMeterRegistry registry, AutoCloseable jvmMetrics) {
        this.boss = boss;
        this.workers = workers;
        this.server = server;
        this.health = health;
        this.housekeeping = housekeeping;
        this.uploads = uploads;
        this.preheats = preheats;
        this.decisions = decisions;
        this.readiness = readiness;
        this.monitoring = monitoring;
        this.registry = registry;
        this.jvmMetrics = jvmMetrics;
    }

    public static SchedulerServer start(InetSocketAddress address, SchedulingConfig config, Clock clock) throws IOException {
        return start(address, config, clock, Duration.ofMinutes(1), null, null);
    }

    /**
     * @param statsInterval how often the decision latency of the last interval is logged
     * @param metricsAddress where {@code /metrics} and {@code /healthy} listen (port 0 picks a free one), null for nowhere
     * @param tls mutual TLS for peers' connections and for this scheduler's calls to their upload servers, or null
     */
    public static SchedulerServer start(InetSocketAddress address, SchedulingConfig config, Clock clock, Duration statsInterval,
                                        InetSocketAddress metricsAddress, MutualTls tls) throws IOException {
        Cluster cluster = new Cluster(clock, config);
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        Gauge.builder("pollen.scheduler.hosts", cluster, Cluster::hostCount).description("Hosts announced").register(registry);
        Gauge.builder("pollen.scheduler.tasks", cluster, Cluster::taskCount).description("Tasks known").register(registry);
        Gauge.builder("pollen.scheduler.peers", cluster, Cluster::peerCount).description("Peers known").register(registry);
        Decisions decisions = new Decisions(registry);
        Readiness readiness = new Readiness();
        Heartbeat heartbeat = new Heartbeat(HEARTBEAT_LIMIT);
        MonitoringServer monitoring = null;
        if (metricsAddress != null) {
            try {
                monitoring = MonitoringServer.start("scheduler-metrics", metricsAddress,
                        Map.of(Endpoints.METRICS, Endpoints.metrics(registry), Endpoints.HEALTHY, Endpoints.health(readiness),
                                Endpoints.LIVEZ, Endpoints.alive(heartbeat)));
            } catch (IOException e) {
                registry.close();
                throw new IOException("cannot listen on " + metricsAddress.getHostString() + ":" + metricsAddress.getPort()
                        + " for metrics: " + e.getMessage() + " (fix: --metrics-port, 0 picks a free one, -1 turns it off)", e);
            }
        }
        AutoCloseable jvmMetrics = JvmMetrics.bindTo(registry);
        HealthStatusManager health = new HealthStatusManager();
        ScheduledExecutorService housekeeping = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().name("scheduler-timer").daemon().factory());
        UploadCalls uploads = new UploadCalls(tls);
        // A preheat waits on its hosts' downloads for minutes: on virtual threads of its own, never the event loop.
        ExecutorService preheats = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("preheat-", 0).factory());
        // Every handler is a few map operations under one lock and never blocks, so it runs on the event
        // loop that read the message: no hand-off to a thread pool per message. One event loop: the
        // handlers serialise on the cluster lock anyway, and a lock holder descheduled among several
        // loops would stall the others for a whole time slice.
        EventLoopGroup boss = new EpollEventLoopGroup(1, new DefaultThreadFactory("scheduler-accept", true));
        EventLoopGroup workers = new EpollEventLoopGroup(1, new DefaultThreadFactory("scheduler-io", true));
        Server server;
        try {
            NettyServerBuilder builder = NettyServerBuilder.forAddress(address);
            if (tls != null) {
                // A peer without a certificate of the cluster's CA gets UNAUTHENTICATED, whatever it calls.
                builder.sslContext(tls.grpcServer()).intercept(tls.requireClientCertificate());
            }
            server = builder
                    .channelType(EpollServerSocketChannel.class)
                    .bossEventLoopGroup(boss)
                    .workerEventLoopGroup(workers)
                    .directExecutor()
                    .addService(new SchedulerService(cluster, new SeedTrigger(uploads), housekeeping, decisions))
                    .addService(new PreheatService(cluster, uploads, preheats))
                    .addService(health.getHealthService())
                    .build()
                    .start();
        } catch (IOException e) {
            if (monitoring != null) {
                monitoring.close();
            }
            throw new IOException("cannot listen on " + address.getHostString() + ":" + address.getPort() + ": " + e.getMessage()
                    + " (fix: --port, or stop what uses it)", e);
        }
        // gRPC health and /healthy give one verdict: SERVING from here, NOT_SERVING from the moment it starts to stop.
        readiness.onChange(serves -> grpcHealth(health, serves));
        readiness.serving();
        // Every second: hosts announcing every few seconds leave within seconds of their last announcement.
        long every = Math.max(1, Math.min(EXPIRY_SWEEP.toMillis(), config.hostTtl().toMillis() / 3));
        housekeeping.scheduleWithFixedDelay(() -> {
            cluster.expireHosts();
            heartbeat.beat();
        }, every, every, TimeUnit.MILLISECONDS);
        long stats = statsInterval.toMillis();
        housekeeping.scheduleAtFixedRate(() -> logLatency(decisions), stats, stats, TimeUnit.MILLISECONDS);
        log.info("event=ready port={} pid={} metrics={}", server.getPort(), ProcessHandle.current().pid(),
                monitoring == null ? "none" : metricsAddress.getHostString() + ":" + monitoring.port());
        return new SchedulerServer(server, housekeeping, uploads, preheats, health, decisions, boss, workers, readiness, monitoring,
                registry, jvmMetrics);
    }

    private static void grpcHealth(HealthStatusManager health, boolean serves) {
        ServingStatus status = serves ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
        health.setStatus("", status);
        health.setStatus("scheduler.v2.Scheduler", status);
        health.setStatus("pollen.scheduler.v1.Preheat", status);
    }

    /** One line per interval with decisions in it: how many, and how long they took inside the scheduler. */
    private static void logLatency(Decisions decisions) {
        DecisionLatency.Window w = decisions.takeWindow();
        if (w != null) {
            log.info("event=decision_latency decisions={} p50_us={} p99_us={} max_us={}", w.decisions(), w.p50Micros(),
                    w.p99Micros(), w.maxMicros());
        }
    }

    public int port() {
        return server.getPort();
    }

    /** The port of /metrics and /healthy; -1 when they are off. */
    public int metricsPort() {
        return monitoring == null ? -1 : monitoring.port();
    }

    @Override
    public void close() {
        readiness.stopping();
        health.enterTerminalState();
        housekeeping.shutdownNow();
        logLatency(decisions);
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
        if (monitoring != null) {
            monitoring.close();
        }
        try {
            jvmMetrics.close();
        } catch (Exception e) {
            log.warn("event=close_failed part=jvm_metrics error=\"{}\"", e.toString());
        }
        registry.close();
    }
}
