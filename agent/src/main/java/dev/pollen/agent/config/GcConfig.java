package dev.pollen.agent.config;

import java.time.Duration;

/**
 * {@code gc.*}: garbage collection of stored tasks. The thresholds apply to Pollen's own usage against
 * {@code gc.policy.diskQuota}, not to the whole filesystem, so other tenants of the disk do not make
 * Pollen evict its cache.
 */
public record GcConfig(Duration interval, Policy policy) {
    public GcConfig {
        Check.positive("gc.interval", interval);
        Check.present("gc.policy", policy);
    }

    public record Policy(Duration taskTTL, ByteSize diskQuota, int distHighThresholdPercent, int distLowThresholdPercent) {
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
        }

        public long highWatermarkBytes() {
            return diskQuota.bytes() / 100 * distHighThresholdPercent;
        }

        public long lowWatermarkBytes() {
            return diskQuota.bytes() / 100 * distLowThresholdPercent;
        }
    }
}
