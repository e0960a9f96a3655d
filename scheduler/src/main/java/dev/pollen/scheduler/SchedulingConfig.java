package dev.pollen.scheduler;

import java.time.Duration;

/**
 * @param candidateParentLimit parents offered to a peer per scheduling decision
 * @param filterParentLimit peers of a task looked at per decision, so a huge swarm stays cheap
 * @param uploadSlotsPerHost children a host is assumed to serve at once before it counts as busy
 * @param hostTtl a host that has not announced for this long is expired with its peers
 */
public record SchedulingConfig(int candidateParentLimit, int filterParentLimit, int uploadSlotsPerHost, Duration hostTtl) {
    public static SchedulingConfig defaults() {
        return new SchedulingConfig(3, 40, 50, Duration.ofMinutes(3));
    }

    public SchedulingConfig {
        if (candidateParentLimit < 1 || candidateParentLimit > 20) {
            throw new IllegalArgumentException("scheduler.candidateParentLimit: " + candidateParentLimit + " (expected: 1..20)");
        }
        if (filterParentLimit < candidateParentLimit) {
            throw new IllegalArgumentException("scheduler.filterParentLimit: " + filterParentLimit
                    + " (expected: at least candidateParentLimit, " + candidateParentLimit + ")");
        }
        if (uploadSlotsPerHost < 1) {
            throw new IllegalArgumentException("scheduler.uploadSlotsPerHost: " + uploadSlotsPerHost + " (expected: >= 1)");
        }
    }
}
