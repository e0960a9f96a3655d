package dev.pollen.scheduler;

import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.simulator.SchedulerPort;
import java.time.Clock;
import java.time.Duration;
import java.util.List;

/**
 * The production scheduler's {@link Cluster} (and through it {@link ParentSelector}) behind the simulator's port.
 * It lives in the scheduler's package, in the simulator's module, because those classes are package-private; it adds
 * no decision of its own. What {@link SchedulerService} does around Cluster that matters to a swarm is mirrored:
 * a held peer waits at most {@link #SEED_WAIT} for the seed (the service's constant), polled by the caller.
 */
public final class InProcessScheduler implements SchedulerPort {
    /** SchedulerService.SEED_WAIT (private there). */
    public static final Duration SEED_WAIT = Duration.ofSeconds(5);
    /** SchedulerService.SEED_POLL_MILLIS (private there). */
    public static final Duration SEED_POLL = Duration.ofMillis(100);

    private final Cluster cluster;

    public InProcessScheduler(Clock clock, SchedulingConfig config) {
        this.cluster = new Cluster(clock, config);
    }

    @Override
    public void announceHost(Host host) {
        cluster.announceHost(host);
    }

    @Override
    public Decision register(String hostId, String taskId, String peerId, Download download) {
        return convert(cluster.register(hostId, taskId, peerId, download, SEED_WAIT));
    }

    @Override
    public Decision pollHeld(String taskId, String peerId) {
        Cluster.Decision d = cluster.scheduleHeld(peerId, cluster.awaitingSeed(taskId, SEED_WAIT));
        return d == null ? null : convert(d);
    }

    @Override
    public Decision reschedule(String peerId, List<String> excludedParentIds) {
        return convert(cluster.reschedule(peerId, excludedParentIds));
    }

    @Override
    public void started(String peerId, boolean backToSource) {
        cluster.started(peerId, backToSource);
    }

    @Override
    public void pieceFinished(String peerId, Piece piece, boolean backToSource) {
        cluster.pieceFinished(peerId, piece, backToSource);
    }

    @Override
    public void pieceFailed(String peerId, String parentId, boolean temporary) {
        cluster.pieceFailed(peerId, parentId, temporary);
    }

    @Override
    public void finished(String peerId, boolean backToSource) {
        cluster.finished(peerId, backToSource);
    }

    @Override
    public void left(String peerId) {
        cluster.left(peerId);
    }

    private static Decision convert(Cluster.Decision d) {
        return switch (d) {
            case Cluster.Decision.Parents p -> new Decision.Parents(p.parents().stream().map(Cluster.Parent::peerId).toList());
            case Cluster.Decision.BackToSource b -> new Decision.BackToSource(b.reason());
            case Cluster.Decision.Held h -> new Decision.Held(h.trigger() == null ? null : h.trigger().getId());
            case Cluster.Decision.Empty e -> new Decision.Other("empty");
            case Cluster.Decision.MetadataOnly m -> new Decision.Other("metadata_only");
        };
    }
}
