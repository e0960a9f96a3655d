package dev.pollen.agent.config;

import java.time.Duration;

/**
 * {@code seedPeer.*}: a seed peer is announced as such, fetches from the origin when the scheduler asks,
 * and keeps what it fetched longer than a normal peer: its own GC policy ({@code seedPeer.gc.policy.taskTTL},
 * {@code seedPeer.gc.policy.diskQuota}) replaces those two keys of {@code gc.policy}, so the swarm's source
 * of every byte is not the first to forget it.
 */
public record SeedPeerConfig(boolean enable, Gc gc) {
    public SeedPeerConfig {
        Check.present("seedPeer.gc", gc);
    }

    public record Gc(Policy policy) {
        public Gc {
            Check.present("seedPeer.gc.policy", policy);
        }
    }

    public record Policy(Duration taskTTL, ByteSize diskQuota) {
        public Policy {
            Check.positive("seedPeer.gc.policy.taskTTL", taskTTL);
            Check.present("seedPeer.gc.policy.diskQuota", diskQuota);
            if (diskQuota.bytes() == 0) {
                throw ConfigException.invalid("seedPeer.gc.policy.diskQuota", diskQuota, "a positive size such as 100GiB");
            }
        }
    }
}
