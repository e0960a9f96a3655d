package dev.pollen.agent;

import dev.pollen.agent.config.CaCertificates;
import dev.pollen.agent.config.DaemonConfig;
import dev.pollen.agent.config.GcConfig;
import dev.pollen.agent.config.LinkSpeed;
import dev.pollen.agent.config.ThreadsConfig;
import dev.pollen.agent.config.UploadCapacity;
import dev.pollen.agent.metrics.AgentMetrics;
import dev.pollen.agent.mirror.MirrorServer;
import dev.pollen.agent.origin.OriginAddressPolicy;
import dev.pollen.agent.origin.OriginClient;
import dev.pollen.agent.peer.ParentChannels;
import dev.pollen.agent.peer.VortexClient;
import dev.pollen.agent.api.DfdaemonDownloadService;
import dev.pollen.agent.api.SocketGuard;
import dev.pollen.agent.api.UdsGrpcServer;
import dev.pollen.agent.storage.DiskSpace;
import dev.pollen.agent.storage.GarbageCollector;
import dev.pollen.agent.storage.ManifestStore;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.task.BlobReadCheck;
import dev.pollen.agent.task.Downloader;
import dev.pollen.agent.peer.P2p;
import dev.pollen.agent.task.TaskManager;
import dev.pollen.agent.task.TaskReannouncer;
import dev.pollen.agent.upload.CorruptingPieces;
import dev.pollen.agent.upload.DfdaemonUploadService;
import dev.pollen.agent.upload.DownloadTaskGuard;
import dev.pollen.agent.upload.HostStatus;
import dev.pollen.agent.upload.PeerTls;
import dev.pollen.agent.upload.TaskPieces;
import dev.pollen.agent.upload.UploadGrpcServer;
import dev.pollen.agent.upload.vortex.UploadPieces;
import dev.pollen.agent.upload.vortex.VortexServer;
import dev.pollen.monitoring.Endpoint;
import dev.pollen.monitoring.Endpoints;
import dev.pollen.monitoring.Heartbeat;
import dev.pollen.monitoring.JvmMetrics;
import dev.pollen.monitoring.MonitoringServer;
import dev.pollen.monitoring.Readiness;
import dev.pollen.policy.SuperSeeding;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Network;
import dev.pollen.scheduler.client.SchedulerClient;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The composition root: builds the daemon's parts in dependency order and stops them in reverse.
 * The socket lock comes first, so a second daemon on the same path fails before it touches storage;
 * if any part fails to start, the parts already built are closed.
 */
public final class Daemon implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Daemon.class);

    /** How often SyncHost streams this host's load to a peer that follows it. */
    private static final Duration SYNC_HOST_INTERVAL = Duration.ofSeconds(5);

    /** The JDK's property for the virtual-thread scheduler's parallelism (read when the first virtual thread starts). */
    public static final String VIRTUAL_THREAD_PARALLELISM = "jdk.virtualThreadScheduler.parallelism";

    /** How often the health verdict is taken again without a probe asking, so the socket's gRPC health follows it. */
    private static final Duration HEALTH_RECHECK = Duration.ofSeconds(5);
    /** Housekeeping silent this long means a wedged daemon (/livez); far above a GC pass over a large store. */
    private static final Duration HEARTBEAT_LIMIT = Duration.ofSeconds(60);
    private static final String DOWNLOAD_SERVICE = "dfdaemon.v2.DfdaemonDownload";

    private final Deque<AutoCloseable> parts;
    private final Readiness readiness;

    private Daemon(Deque<AutoCloseable> parts, Readiness readiness) {
        this.parts = parts;
        this.readiness = readiness;
    }

    /**
     * @param threads the thread counts from {@link DaemonConfig#conclude}
     * @param uploadFault tests only, null in production: every piece this node uploads has one byte flipped
     *     ({@link CorruptingPieces})
     */
    public static Daemon start(DaemonConfig config, ThreadsConfig.Effective threads, Clock clock,
                               CorruptingPieces.Fault uploadFault)
            throws IOException {
        log.info("event=threads {} virtual_thread_carriers={}", threads, virtualThreadCarriers());
        Deque<AutoCloseable> parts = new ArrayDeque<>();
        Readiness readiness = new Readiness();
        Heartbeat heartbeat = new Heartbeat(HEARTBEAT_LIMIT);
        try {
            SocketGuard guard = SocketGuard.acquire(config.download().server().socketPath());
            parts.push(guard);
            PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
            parts.push(registry::close);
            parts.push(JvmMetrics.bindTo(registry));
            AgentMetrics metrics = new AgentMetrics(registry);
            // Up before the rest, so probes hear "starting" (503) while storage loads and the servers bind.
            String metricsAt = "none";
            if (config.metrics().server().enable()) {
                MonitoringServer server = monitoring("metrics", config.metrics().server().ip(), config.metrics().server().port(),
                        Map.of(Endpoints.METRICS, Endpoints.metrics(registry)));
                parts.push(server);
                metricsAt = config.metrics().server().ip() + ":" + server.port();
            }
            String healthAt = "none";
            if (config.health().server().enable()) {
                MonitoringServer server = monitoring("health", config.health().server().ip(), config.health().server().port(),
                        Map.of(Endpoints.HEALTHY, Endpoints.health(readiness), Endpoints.LIVEZ, Endpoints.alive(heartbeat)));
                parts.push(server);
                healthAt = config.health().server().ip() + ":" + server.port();
            }
            Storage storage = new Storage(config.storage().dir());
            readiness.addCheck(() -> writable(storage.dir()));
            HostIdentity host = HostIdentity.of(config.host());
            PeerTls peerTls = PeerTls.load(config.upload());
            parts.push(peerTls);
            ExecutorService work = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("piece-", 0).factory());
            // This host as announced to the scheduler and streamed by SyncHost: built once the upload ports are
            // bound (port 0 in tests), after the parts that report it are made.
            AtomicReference<HostStatus> status = new AtomicReference<>();
            Supplier<Host> currentHost = () -> status.get().get();
            P2p p2p = null;
            if (config.scheduler().enabled()) {
                ParentChannels channels = new ParentChannels(peerTls.client());
                parts.push(channels);
                VortexClient vortex = new VortexClient(VortexClient.Options.defaults().withIoThreads(threads.vortexClientEventLoops())
                        .withTls(peerTls.client()));
                parts.push(vortex);
                // Pushed once the servers run (below): it closes first, so the node leaves the scheduler
                // (DeleteHost) before its servers drain, and no new child is sent to a stopping node.
                SchedulerClient scheduler = new SchedulerClient(config.scheduler().addresses(), currentHost,
                        config.scheduler().announceInterval(), clock, peerTls.scheduler(config.scheduler()));
                p2p = new P2p(scheduler, host.hostId(), channels, vortex, config.scheduler().scheduleTimeout(),
                        config.download().pieceTimeout(), config.download().pieceTimeout());
            }
            // Every origin request and redirect target is checked, not only the first: a name with a short TTL could
            // pass once and then point into a denied block (link-local, cloud metadata) for the piece requests.
            OriginAddressPolicy origins = new OriginAddressPolicy(config.upload().downloadTask().deniedOrigins());
            OriginClient originClient = new OriginClient(config.download(), (uri, redirect) -> origins.check(uri));
            parts.push(originClient);
            TaskManager tasks = new TaskManager(storage, originClient, work,
                    config.download().concurrentPieceCount(), clock, p2p, metrics);
            parts.push(tasks);
            metrics.watchTasks(tasks::activeCount, () -> storage.taskIds().size());
            metrics.watchStorage(storage::usedBytes, config.gcPolicy().diskQuota().bytes(),
                    () -> DiskSpace.FILE_STORE.usableBytes(storage.dir()));
            P2p scheduled = p2p;
            metrics.watchScheduler(() -> scheduled != null && scheduled.scheduler().connected());
            if (p2p != null) {
                // A scheduler that restarted has forgotten what this node holds: tell it again (before start, below).
                p2p.scheduler().onForgetting(new TaskReannouncer(storage, p2p.scheduler(), host.hostId(),
                        config.scheduler().reannounceLimit(), config.scheduler().announceInterval(), config.scheduler().scheduleTimeout()));
            }
            // Interrupting a thread in file I/O closes the shared content channel, so piece work gets a
            // few seconds to end on its own before it is interrupted.
            parts.push(() -> {
                work.shutdown();
                if (!work.awaitTermination(5, TimeUnit.SECONDS)) {
                    work.shutdownNow();
                }
            });
            GarbageCollector gc = new GarbageCollector(storage, config.gcPolicy(), clock, tasks::whenIdle, metrics);
            ScheduledExecutorService housekeeping = Executors.newSingleThreadScheduledExecutor(
                    Thread.ofPlatform().name("housekeeping").daemon().factory());
            parts.push(housekeeping::shutdownNow);
            long every = config.gc().interval().toMillis();
            housekeeping.scheduleWithFixedDelay(() -> housekeep(tasks, gc), every, every, TimeUnit.MILLISECONDS);
            housekeeping.scheduleWithFixedDelay(() -> {
                heartbeat.beat();
                readiness.problem();
            }, HEALTH_RECHECK.toMillis(), HEALTH_RECHECK.toMillis(), TimeUnit.MILLISECONDS);

            BlobReadCheck blobReads = config.proxy().authorization().enable() ? new BlobReadCheck(originClient) : BlobReadCheck.OFF;
            DfdaemonDownloadService download = new DfdaemonDownloadService(host.hostId(), new Downloader(tasks), tasks, storage,
                    blobReads);
            String ports = "none";
            UploadGrpcServer uploadServer = null;
            if (p2p != null) {
                // Peers can only find this node through a scheduler, so without one no peer port is opened.
                SuperSeeding superSeeding = SuperSeeding.of(config.seedPeer().enable() ? config.seedPeer().superSeeding() : Duration.ZERO);
                UploadPieces pieces = new TaskPieces(tasks, superSeeding);
                if (uploadFault != null) {
                    pieces = new CorruptingPieces(pieces, uploadFault);
                }
                // Threads: piece lookups and upload RPCs on virtual threads of their own, peer traffic on
                // event loops of its own; none of them shared with the local API (below).
                ExecutorService lookups = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("vortex-lookup-", 0).factory());
                parts.push(lookups::shutdownNow);
                UploadCapacity capacity = UploadCapacity.of(config.upload(), LinkSpeed.of(host.ip()));
                log.info("event=upload_capacity bits_per_second={} source={} slots={}", capacity.bitsPerSecond(),
                        capacity.source(), capacity.slots());
                VortexServer vortexServer = VortexServer.start(VortexServer.Options.defaults().withTls(peerTls.server())
                        .withAddress(new InetSocketAddress(config.upload().server().ip(), config.storage().server().tcpPort()))
                        .withIoThreads(threads.vortexServerEventLoops())
                        .withRateLimit(config.upload().rateLimit().bytes())
                        .withConcurrentPieceLimit(capacity.slots())
                        .withSlotWait(config.upload().slotWait()),
                        pieces, lookups, clock);
                parts.push(vortexServer);
                metrics.watchUploads(vortexServer.stats()::bytesServed, vortexServer.stats()::uploading);
                ExecutorService uploadCalls = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("upload-rpc-", 0).factory());
                parts.push(uploadCalls::shutdownNow);
                UploadGrpcServer upload = UploadGrpcServer.start(
                        new InetSocketAddress(config.upload().server().ip(), config.upload().server().port()),
                        new DfdaemonUploadService(tasks, download.forScheduler(), origins, host.ip(), vortexServer.address().getPort(),
                                currentHost, housekeeping, SYNC_HOST_INTERVAL, config.upload().syncPieces().maxAge(),
                                superSeeding),
                        DownloadTaskGuard.start(config, housekeeping), uploadCalls, threads.uploadEventLoops(),
                        UploadGrpcServer.KeepAlive.DEFAULT, peerTls.server());
                parts.push(upload);
                uploadServer = upload;
                status.set(new HostStatus(Host.newBuilder()
                        .setId(host.hostId())
                        .setType(config.seedPeer().enable() ? 1 : 0)
                        .setHostname(host.hostname())
                        .setIp(host.ip())
                        .setPort(upload.port())
                        .setDownloadPort(vortexServer.address().getPort())
                        .setNetwork(Network.newBuilder().setIdc(config.host().idc()).setLocation(config.host().location()))
                        .build(), config.storage().dir(), vortexServer.stats(), capacity.bitsPerSecond()));
                p2p.scheduler().start();
                parts.push(p2p.scheduler());
                ports = "upload:" + upload.port() + ",piece:" + vortexServer.address().getPort();
            } else {
                metrics.watchUploads(() -> 0, () -> 0);
            }

            String mirror = "none";
            if (config.proxy().server().enable()) {
                ManifestStore manifests = new ManifestStore(config.storage().dir(), clock);
                GcConfig.Policy policy = config.gcPolicy();
                // Manifests are small: a hundredth of the quota holds a great many; unused ones go like tasks do.
                housekeeping.scheduleWithFixedDelay(() -> collectManifests(manifests, policy, clock), every, every, TimeUnit.MILLISECONDS);
                MirrorServer mirrorServer = MirrorServer.start(config.proxy(), tasks, manifests,
                        config.download().backToSource().connectTimeout(), config.download().pieceTimeout(),
                        CaCertificates.readAll("download.backToSource.caCerts", config.download().backToSource().caCerts()),
                        (uri, redirect) -> origins.check(uri), clock, metrics);
                parts.push(mirrorServer);
                mirror = mirrorServer.address().getHostString() + ":" + mirrorServer.address().getPort();
            }

            if (uploadServer != null) {
                UploadGrpcServer peers = uploadServer;
                grpcHealth(peers.health(), false, UploadGrpcServer.SERVICE);
                readiness.onChange(serves -> grpcHealth(peers.health(), serves, UploadGrpcServer.SERVICE));
            }
            UdsGrpcServer server = UdsGrpcServer.start(guard, config.download().server(), List.of(download),
                    new UdsGrpcServer.Threads(threads.udsEventLoops(), threads.udsControlThreads()));
            parts.push(server);
            // The socket's gRPC health says what /healthy says: NOT_SERVING until every part is up, while storage is not
            // writable, and from the moment the daemon starts to stop.
            grpcHealth(server.health(), false, DOWNLOAD_SERVICE);
            readiness.onChange(serves -> grpcHealth(server.health(), serves, DOWNLOAD_SERVICE));
            readiness.serving();
            log.info("event=ready socket={} storage={} pid={} host={} ports={} mirror={} schedulers={} metrics={} health={}",
                    config.download().server().socketPath(), config.storage().dir(), ProcessHandle.current().pid(),
                    host.hostId(), ports, mirror, config.scheduler().enabled() ? String.join(",", config.scheduler().addresses()) : "none",
                    metricsAt, healthAt);
            return new Daemon(parts, readiness);
        } catch (IOException | RuntimeException e) {
            closeAll(parts);
            throw e;
        }
    }

    private static MonitoringServer monitoring(String name, String ip, int port, Map<String, Endpoint> endpoints) throws IOException {
        try {
            return MonitoringServer.start(name, new InetSocketAddress(ip, port), endpoints);
        } catch (IOException e) {
            throw new IOException("cannot listen on " + ip + ":" + port + " for " + name + ": " + e.getMessage() + " (fix: free the port, set "
                    + name + ".server.port (0 picks a free one) or " + name + ".server.enable=false)", e);
        }
    }

    /** Null when the daemon can write its storage, else the one line /healthy answers. */
    private static String writable(Path dir) {
        return Files.isDirectory(dir) && Files.isWritable(dir) ? null
                : "storage.dir " + dir + " is not a writable directory (fix: its permissions or mount, or point storage.dir elsewhere)";
    }

    /** The whole server ({@code ""}) and its one service say what /healthy says. */
    private static void grpcHealth(HealthStatusManager health, boolean serves, String service) {
        ServingStatus status = serves ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
        health.setStatus("", status);
        health.setStatus(service, status);
    }

    /** The carrier threads of virtual threads: the JVM's default unless set by DfdaemonCommand or a flag. */
    private static String virtualThreadCarriers() {
        return System.getProperty(VIRTUAL_THREAD_PARALLELISM, String.valueOf(Runtime.getRuntime().availableProcessors()));
    }

    private static void collectManifests(ManifestStore manifests, GcConfig.Policy policy, Clock clock) {
        try {
            manifests.collect(clock.instant().minus(policy.taskTTL()), policy.diskQuota().bytes() / 100);
        } catch (IOException | RuntimeException e) {
            log.warn("event=gc_failed what=manifests error=\"{}\"", e.toString());
        }
    }

    private static void housekeep(TaskManager tasks, GarbageCollector gc) {
        try {
            tasks.closeIdle();
            gc.collect();
        } catch (IOException | RuntimeException e) {
            log.warn("event=gc_failed error=\"{}\"", e.toString());
        }
    }

    @Override
    public void close() {
        log.info("event=stopping");
        readiness.stopping();
        closeAll(parts);
        log.info("event=stopped");
    }

    private static void closeAll(Deque<AutoCloseable> parts) {
        while (!parts.isEmpty()) {
            try {
                parts.pop().close();
            } catch (Exception e) {
                log.warn("event=close_failed error=\"{}\"", e.toString());
            }
        }
    }
}
