package dev.pollen.agent.config;

/**
 * The daemon's whole configuration, bound from dfdaemon.yaml (Dragonfly's key names where they exist).
 * Each nested record validates its own keys; checks across sections live here.
 */
public record DaemonConfig(DownloadConfig download, StorageConfig storage, UploadConfig upload, HostConfig host,
                           SchedulerConfig scheduler, SeedPeerConfig seedPeer, GcConfig gc, ThreadsConfig threads,
                           ProxyConfig proxy, MetricsConfig metrics, HealthConfig health) {
    public DaemonConfig {
        Check.present("download", download);
        Check.present("storage", storage);
        Check.present("upload", upload);
        Check.present("host", host);
        Check.present("scheduler", scheduler);
        Check.present("seedPeer", seedPeer);
        Check.present("gc", gc);
        Check.present("threads", threads);
        Check.present("proxy", proxy);
        Check.present("metrics", metrics);
        Check.present("health", health);
        if (metrics.server().enable() && health.server().enable() && metrics.server().port() != 0
                && metrics.server().port() == health.server().port()) {
            throw ConfigException.invalid("health.server.port", health.server().port(),
                    "a port other than metrics.server.port (" + metrics.server().port() + ")");
        }
        if (scheduler.tls() && upload.client().tls().isEmpty()) {
            throw new ConfigException("scheduler.tls: true without upload.client.caCert/cert/key (expected: the certificate "
                    + "this node shows to the schedulers, e.g. the same files as upload.server.*)");
        }
        if (upload.server().port() != 0 && upload.server().port() == storage.server().tcpPort()) {
            throw ConfigException.invalid("storage.server.tcpPort", storage.server().tcpPort(),
                    "a port other than upload.server.port (" + upload.server().port() + ")");
        }
    }

    /**
     * Resolves the thread counts for this machine and checks them as a set, with the limits they serve
     * (after Aeron's {@code Context.conclude}): each key may be fine alone while a combination starves one
     * part of the daemon. The message names the keys and a combination that works.
     */
    public ThreadsConfig.Effective conclude(CpuBudget cpus) {
        ThreadsConfig.Effective t = threads.resolve(cpus);
        ThreadsConfig.Effective fallback = ThreadsConfig.derived(cpus);
        int maxPieceLoops = ThreadsConfig.PIECE_LOOPS_PER_CPU * cpus.cpus();
        if (t.pieceTrafficLoops() > maxPieceLoops) {
            throw new ConfigException("threads.uploadEventLoops + threads.vortexServerEventLoops + threads.vortexClientEventLoops: "
                    + t.uploadEventLoops() + " + " + t.vortexServerEventLoops() + " + " + t.vortexClientEventLoops()
                    + " on " + cpus.cpus() + " CPUs (expected: at most " + maxPieceLoops + ", "
                    + ThreadsConfig.PIECE_LOOPS_PER_CPU + " per CPU: more loops busy with piece traffic keep the local API "
                    + "waiting for a CPU; e.g. threads.uploadEventLoops: " + fallback.uploadEventLoops()
                    + ", threads.vortexServerEventLoops: " + fallback.vortexServerEventLoops()
                    + ", threads.vortexClientEventLoops: " + fallback.vortexClientEventLoops() + ")");
        }
        int slots = upload.concurrentPieceLimit();
        if (slots > 0 && slots < t.vortexServerEventLoops()) {
            throw new ConfigException("upload.concurrentPieceLimit: " + slots + " is below threads.vortexServerEventLoops: "
                    + t.vortexServerEventLoops() + " (expected: upload.concurrentPieceLimit >= threads.vortexServerEventLoops, "
                    + "or loops beyond the upload slots never send; e.g. threads.vortexServerEventLoops: "
                    + Math.min(slots, fallback.vortexServerEventLoops()) + ", or upload.concurrentPieceLimit: "
                    + t.vortexServerEventLoops() + ")");
        }
        return t;
    }

    /** The GC policy in force: a seed peer's own TTL and quota, else {@code gc.policy}. */
    public GcConfig.Policy gcPolicy() {
        if (!seedPeer.enable()) {
            return gc.policy();
        }
        SeedPeerConfig.Policy seed = seedPeer.gc().policy();
        return new GcConfig.Policy(seed.taskTTL(), seed.diskQuota(), gc.policy().distHighThresholdPercent(),
                gc.policy().distLowThresholdPercent(), gc.policy().minFreeSpace());
    }
}
