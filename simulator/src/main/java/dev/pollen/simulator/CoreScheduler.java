package dev.pollen.simulator;

import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.scheduler.SchedulingConfig;
import dev.pollen.scheduler.SchedulingCore;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * The production scheduler's decision code ({@link SchedulingCore}: the same Cluster and ParentSelector the gRPC
 * service drives) behind the simulator's port. It only translates messages; it decides nothing itself.
 */
final class CoreScheduler implements SchedulerPort {
    private final SchedulingCore core;

    CoreScheduler(Clock clock, SchedulingConfig config, RandomGenerator random) {
        this.core = new SchedulingCore(clock, config, random);
    }

    @Override
    public void announceHost(Host host) {
        core.announceHost(new SchedulingCore.HostInfo(host.getId(), host.getType() != 0, host.getNetwork().getMaxTxBandwidth(),
                host.getNetwork().getUploadTcpConnectionCount(), host.getNetwork().getIdc(), host.getNetwork().getLocation()));
    }

    @Override
    public Decision register(String hostId, String taskId, String peerId, Download download) {
        return convert(core.register(hostId, taskId, peerId,
                download.hasActualContentLength() ? download.getActualContentLength() : -1,
                download.hasActualPieceLength() ? download.getActualPieceLength() : -1, download.getNeedBackToSource()));
    }

    @Override
    public Decision pollHeld(String taskId, String peerId) {
        SchedulingCore.Decision d = core.pollHeld(peerId);
        return d == null ? null : convert(d);
    }

    @Override
    public Decision reschedule(String peerId, List<String> excludedParentIds) {
        return convert(core.reschedule(peerId, excludedParentIds));
    }

    @Override
    public void started(String peerId, boolean backToSource) {
        core.started(peerId, backToSource);
    }

    @Override
    public void pieceFinished(String peerId, Piece piece, boolean backToSource) {
        core.pieceFinished(peerId, piece.getNumber(), backToSource || !piece.hasParentId() ? null : piece.getParentId(),
                Duration.ofSeconds(piece.getCost().getSeconds(), piece.getCost().getNanos()));
    }

    @Override
    public void pieceFailed(String peerId, String parentId, boolean temporary) {
        core.pieceFailed(peerId, parentId);
    }

    @Override
    public void finished(String peerId, boolean backToSource) {
        core.finished(peerId, backToSource);
    }

    @Override
    public void left(String peerId) {
        core.left(peerId);
    }

    private static Decision convert(SchedulingCore.Decision d) {
        return switch (d) {
            case SchedulingCore.Decision.Parents p -> new Decision.Parents(p.parentPeerIds());
            case SchedulingCore.Decision.BackToSource b -> new Decision.BackToSource(b.reason());
            case SchedulingCore.Decision.Held h -> new Decision.Held(h.seedHostToTrigger());
            case SchedulingCore.Decision.Empty e -> new Decision.Other("empty");
        };
    }
}
