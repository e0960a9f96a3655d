package dev.pollen.scheduler;

import java.time.Duration;

/**
 * @param candidateParentLimit parents offered to a peer per scheduling decision
 * @param filterParentLimit peers of a task looked at per decision, so a huge swarm stays cheap
 * @param hostTtl a host that has not announced for this long is expired with its peers
 * @param backToSourceLimit peers of one task that may download from the origin at once; a seed the scheduler
 *     triggered and a peer that asks for the source itself are never refused, but count
 * @param seedWait how long peers are held for a seed the scheduler triggered before one of them may go to the origin
 * @param holdTimeout how long a peer is held at most (for a seed, a parent or a back-to-source grant) before it is
 *     sent to the origin anyway; below the agents' schedule timeout (10 s), so a held peer hears back first
 * @param defaultUploadBitsPerSecond the upload capacity assumed for a host that announces none
 *     ({@code Network.max_tx_bandwidth} 0)
 */
public record SchedulingConfig(int candidateParentLimit, int filterParentLimit, Duration hostTtl,
                               int backToSourceLimit, Duration seedWait, Duration holdTimeout, long defaultUploadBitsPerSecond) {
    public static SchedulingConfig defaults() {
        return new SchedulingConfig(3, 40, Duration.ofMinutes(3), 1, Duration.ofSeconds(5), Duration.ofSeconds(8), 1_000_000_000L);
    }

    public SchedulingConfig {
        if (candidateParentLimit < 1 || candidateParentLimit > 20) {
            throw new IllegalArgumentException("scheduler.candidateParentLimit: " + candidateParentLimit + " (expected: 1..20)");
        }
        if (filterParentLimit < candidateParentLimit) {
            throw new IllegalArgumentException("scheduler.filterParentLimit: " + filterParentLimit
                    + " (expected: at least candidateParentLimit, " + candidateParentLimit + ")");
        }
        if (backToSourceLimit < 1) {
            throw new IllegalArgumentException("scheduler.backToSourceLimit: " + backToSourceLimit + " (expected: >= 1)");
        }
        if (seedWait.isNegative()) {
            throw new IllegalArgumentException("scheduler.seedWait: " + seedWait + " (expected: 0 or more)");
        }
        if (holdTimeout.compareTo(seedWait) < 0) {
            throw new IllegalArgumentException("scheduler.holdTimeout: " + holdTimeout + " (expected: at least seedWait, " + seedWait + ")");
        }
        if (defaultUploadBitsPerSecond < 1) {
            throw new IllegalArgumentException("scheduler.defaultUploadBitsPerSecond: " + defaultUploadBitsPerSecond
                    + " (expected: >= 1)");
        }
    }

    public SchedulingConfig withCandidateParentLimit(int limit) {
        return new SchedulingConfig(limit, Math.max(limit, filterParentLimit), hostTtl, backToSourceLimit,
                seedWait, holdTimeout, defaultUploadBitsPerSecond);
    }

    public SchedulingConfig withFilterParentLimit(int limit) {
        return new SchedulingConfig(candidateParentLimit, limit, hostTtl, backToSourceLimit, seedWait, holdTimeout,
                defaultUploadBitsPerSecond);
    }

    public SchedulingConfig withHostTtl(Duration ttl) {
        return new SchedulingConfig(candidateParentLimit, filterParentLimit, ttl, backToSourceLimit, seedWait, holdTimeout,
                defaultUploadBitsPerSecond);
    }

    public SchedulingConfig withBackToSourceLimit(int limit) {
        return new SchedulingConfig(candidateParentLimit, filterParentLimit, hostTtl, limit, seedWait, holdTimeout,
                defaultUploadBitsPerSecond);
    }

    public SchedulingConfig withSeedWait(Duration wait) {
        return new SchedulingConfig(candidateParentLimit, filterParentLimit, hostTtl, backToSourceLimit, wait,
                holdTimeout.compareTo(wait) < 0 ? wait : holdTimeout, defaultUploadBitsPerSecond);
    }

    public SchedulingConfig withHoldTimeout(Duration timeout) {
        return new SchedulingConfig(candidateParentLimit, filterParentLimit, hostTtl, backToSourceLimit, seedWait, timeout,
                defaultUploadBitsPerSecond);
    }

    public SchedulingConfig withDefaultUploadBitsPerSecond(long bitsPerSecond) {
        return new SchedulingConfig(candidateParentLimit, filterParentLimit, hostTtl, backToSourceLimit,
                seedWait, holdTimeout, bitsPerSecond);
    }
}
