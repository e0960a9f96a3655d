package dev.pollen.agent.config;

/**
 * The daemon's whole configuration, bound from dfdaemon.yaml (Dragonfly's key names where they exist).
 * Each nested record validates its own keys; checks across sections live here.
 */
public record DaemonConfig(DownloadConfig download, StorageConfig storage, GcConfig gc) {
    public DaemonConfig {
        Check.present("download", download);
        Check.present("storage", storage);
        Check.present("gc", gc);
    }
}
