package dev.pollen.agent.config;

/**
 * The daemon's whole configuration, bound from dfdaemon.yaml (Dragonfly's key names where they exist).
 * Each nested record validates its own keys; checks across sections live here.
 */
public record DaemonConfig(DownloadConfig download, StorageConfig storage, UploadConfig upload, HostConfig host,
                           SchedulerConfig scheduler, SeedPeerConfig seedPeer, GcConfig gc) {
    public DaemonConfig {
        Check.present("download", download);
        Check.present("storage", storage);
        Check.present("upload", upload);
        Check.present("host", host);
        Check.present("scheduler", scheduler);
        Check.present("seedPeer", seedPeer);
        Check.present("gc", gc);
        if (upload.server().port() != 0 && upload.server().port() == storage.server().tcpPort()) {
            throw ConfigException.invalid("storage.server.tcpPort", storage.server().tcpPort(),
                    "a port other than upload.server.port (" + upload.server().port() + ")");
        }
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
