package dev.pollen.agent.config;

import java.time.Duration;

/**
 * {@code gc.*}: garbage collection of stored tasks. The thresholds apply to Pollen's own usage against
 * {@code gc.policy.diskQuota}, not to the whole filesystem, so other tenants of the disk do not make
 * Pollen evict its cache beyond that; but while the filesystem's free space is under
 * {@code gc.policy.minFreeSpace}, idle tasks are evicted too, so a full disk recovers.
 */
public record GcConfig(Duration interval, Policy policy) {
    public GcConfig {
        Check.positive("gc.interval", interval);
        Check.present("gc.policy", policy);
    }

    /**
     * @param minFreeSpace free space kept on the storage filesystem: below it, least recently used idle tasks
     *     are evicted whatever the quota says (a share such as 5%, or a size)
     */
    public record Policy(Duration taskTTL, ByteSize diskQuota, int distHighThresholdPercent, int distLowThresholdPercent,
                         FreeSpaceFloor minFreeSpace) {
        public Policy {
            Check.positive("gc.policy.taskTTL", taskTTL);
            Check.present("gc.policy.diskQuota", diskQuota);
            if (diskQuota.bytes() == 0) {
                throw ConfigException.invalid("gc.policy.diskQuota", diskQuota, "a positive size such as 100GiB");
            }
            Check.range("gc.policy.distHighThresholdPercent", distHighThresholdPercent, 1, 100);
            Check.range("gc.policy.distLowThresholdPercent", distLowThresholdPercent, 0, 99);
            if (distLowThresholdPercent >= distHighThresholdPercent) {
                throw ConfigException.invalid("gc.policy.distLowThresholdPercent", distLowThresholdPercent,
                        "below gc.policy.distHighThresholdPercent (" + distHighThresholdPercent + ")");
            }
            Check.present("gc.policy.minFreeSpace", minFreeSpace);
            if (minFreeSpace.percent() > 50) {
                throw ConfigException.invalid("gc.policy.minFreeSpace", minFreeSpace, "at most 50% (or a size)");
            }
        }

        public long highWatermarkBytes() {
            return diskQuota.bytes() / 100 * distHighThresholdPercent;
        }

        public long lowWatermarkBytes() {
            return diskQuota.bytes() / 100 * distLowThresholdPercent;
        }
    }
}
