package dev.pollen.agent.config;

import java.time.Duration;

/**
 * {@code seedPeer.*}: a seed peer is announced as such, fetches from the origin when the scheduler asks,
 * and keeps what it fetched longer than a normal peer: its own GC policy ({@code seedPeer.gc.policy.taskTTL},
 * {@code seedPeer.gc.policy.diskQuota}) replaces those two keys of {@code gc.policy}, so the swarm's source
 * of every byte is not the first to forget it. {@code seedPeer.superSeeding}: the longest a piece fresh from
 * the origin is announced to one child only, a different one for each piece, so the seed's uplink sends about
 * one copy of the file and the children pass pieces on to each other (zero: every child hears of it at once).
 */
public record SeedPeerConfig(boolean enable, Gc gc, Duration superSeeding) {
    /** Longer than this, a child would wait for a piece that the seed could have sent it. */
    static final Duration MAX_SUPER_SEEDING = Duration.ofSeconds(30);

    public SeedPeerConfig {
        Check.present("seedPeer.gc", gc);
        Check.range("seedPeer.superSeeding", superSeeding, Duration.ZERO, MAX_SUPER_SEEDING);
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
