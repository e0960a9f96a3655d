package dev.pollen.scheduler;

import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Network;
import dev.pollen.proto.common.v2.Piece;
import java.time.Clock;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * The scheduler's decisions without gRPC, for a simulator: the same {@link Cluster} and {@link ParentSelector} the
 * service drives, fed plain values and a clock of the caller's. What the service adds on top is only the wire:
 * it polls a held peer with {@link #pollHeld} every 100 ms and triggers the seed a {@link Decision.Held} names.
 * Every call takes the one cluster lock, as in production.
 */
public final class SchedulingCore {
    /** How often a held peer is scheduled again (the gRPC service polls its held peers at this pace too). */
    public static final java.time.Duration HELD_POLL = java.time.Duration.ofMillis(100);

    /** A host's identity and upload load as it announces them; announce again to refresh. */
    public record HostInfo(String id, boolean seed, long maxTxBitsPerSecond, int uploadsUnderway, String idc, String location) {
        public static HostInfo of(String id, boolean seed, long maxTxBitsPerSecond) {
            return new HostInfo(id, seed, maxTxBitsPerSecond, 0, "", "");
        }
    }

    /** What a peer does next. */
    public sealed interface Decision {
        /** Download from these peers, best first. */
        record Parents(List<String> parentPeerIds) implements Decision {
        }

        /** Download from the origin; the peer holds one of the task's back-to-source grants until it ends. */
        record BackToSource(String reason) implements Decision {
        }

        /**
         * Wait, and ask {@link #pollHeld} again. {@code seedHostToTrigger}, when not null: the seed host to ask
         * to download the task now (it registers a peer of its own, which is sent to the origin).
         */
        record Held(String seedHostToTrigger) implements Decision {
        }

        /** The task is empty. */
        record Empty() implements Decision {
        }
    }

    private final Cluster cluster;

    public SchedulingCore(Clock clock, SchedulingConfig config) {
        this.cluster = new Cluster(clock, config);
    }

    /** @param random samples the peers each decision looks at; a seeded one makes a run reproducible */
    public SchedulingCore(Clock clock, SchedulingConfig config, RandomGenerator random) {
        this.cluster = new Cluster(clock, config, random);
    }

    public void announceHost(HostInfo h) {
        cluster.announceHost(Host.newBuilder().setId(h.id()).setType(h.seed() ? 1 : 0)
                .setNetwork(Network.newBuilder().setMaxTxBandwidth(h.maxTxBitsPerSecond())
                        .setUploadTcpConnectionCount(h.uploadsUnderway()).setIdc(h.idc()).setLocation(h.location()))
                .build());
    }

    /** The host leaves with its peers. */
    public boolean removeHost(String hostId) {
        return cluster.deleteHost(hostId);
    }

    /** Hosts silent for {@link SchedulingConfig#hostTtl()} leave with their peers; how many did. */
    public int expireHosts() {
        return cluster.expireHosts();
    }

    /** A whole-task download; lengths in bytes, -1 when unknown. */
    public Decision register(String hostId, String taskId, String peerId, long contentLength, long pieceLength) {
        return register(hostId, taskId, peerId, contentLength, pieceLength, false);
    }

    /** @param needBackToSource the peer insists on the origin: never refused, counted against the task's limit */
    public Decision register(String hostId, String taskId, String peerId, long contentLength, long pieceLength,
                             boolean needBackToSource) {
        Download.Builder d = Download.newBuilder().setUrl(taskId).setNeedBackToSource(needBackToSource);
        if (contentLength >= 0) {
            d.setActualContentLength(contentLength);
            if (pieceLength > 0) {
                d.setActualPieceLength(pieceLength);
            }
        }
        return plain(cluster.register(hostId, taskId, peerId, d.build()));
    }

    /** For a held peer: null while it keeps waiting, else its decision. */
    public Decision pollHeld(String peerId) {
        Cluster.Decision d = cluster.scheduleHeld(peerId);
        return d == null ? null : plain(d);
    }

    /** DownloadPeer(BackToSource)Started: only from now on is the peer offered to others. */
    public void started(String peerId, boolean backToSource) {
        cluster.started(peerId, backToSource);
    }

    /** @param parentPeerId where the piece came from; null for the origin */
    public void pieceFinished(String peerId, int pieceNumber, String parentPeerId, Duration cost) {
        Piece.Builder p = Piece.newBuilder().setNumber(pieceNumber)
                .setCost(com.google.protobuf.Duration.newBuilder().setSeconds(cost.getSeconds()).setNanos(cost.getNano()));
        if (parentPeerId != null) {
            p.setParentId(parentPeerId);
        }
        cluster.pieceFinished(peerId, p.build(), parentPeerId == null);
    }

    /** The parent failed a piece: it is not offered to this peer again. */
    public void pieceFailed(String peerId, String parentPeerId) {
        cluster.pieceFailed(peerId, parentPeerId, true);
    }

    /** New parents, never {@code excludedParents} (blocked for good). May answer {@link Decision.Held}. */
    public Decision reschedule(String peerId, Collection<String> excludedParents) {
        return plain(cluster.reschedule(peerId, List.copyOf(excludedParents)));
    }

    public void finished(String peerId, boolean backToSource) {
        cluster.finished(peerId, backToSource);
    }

    public void failed(String peerId, boolean backToSource) {
        cluster.failed(peerId, backToSource);
    }

    /** The peer's stream ended (it went away): an unfinished peer stops serving and frees what it held. */
    public void left(String peerId) {
        cluster.left(peerId);
    }

    private static Decision plain(Cluster.Decision d) {
        return switch (d) {
            case Cluster.Decision.Parents p -> new Decision.Parents(p.parents().stream().map(Cluster.Parent::peerId).toList());
            case Cluster.Decision.BackToSource b -> new Decision.BackToSource(b.reason());
            case Cluster.Decision.Held h -> new Decision.Held(h.trigger() == null ? null : h.trigger().getId());
            case Cluster.Decision.Empty e -> new Decision.Empty();
            case Cluster.Decision.MetadataOnly m -> throw new IllegalStateException("no metadata_only registration is made here");
        };
    }
}
