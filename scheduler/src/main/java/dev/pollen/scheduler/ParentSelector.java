package dev.pollen.scheduler;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Chooses parents for a peer: peers of the same task that can serve (downloading or done), never the
 * peer itself, another peer on its host, or a parent that already failed it; ranked by how much of
 * the task they hold, free upload capacity, seed status and locality. A parent whose last piece was far slower
 * than its others (Dragonfly's IsBadParent) ranks after all the rest: Dragonfly drops it, Pollen keeps it as
 * a last resort, as one slow piece (a GC pause) must not send a child to the origin.
 */
final class ParentSelector {
    private final SchedulingConfig config;

    ParentSelector(SchedulingConfig config) {
        this.config = config;
    }

    List<PeerRecord> select(PeerRecord child, TaskRecord task, Map<String, HostRecord> hosts) {
        HostRecord childHost = hosts.get(child.hostId);
        List<PeerRecord> eligible = new ArrayList<>();
        for (PeerRecord p : task.peers.values()) {
            if (eligible.size() >= config.filterParentLimit()) {
                break;
            }
            HostRecord host = hosts.get(p.hostId);
            if (p == child || p.hostId.equals(child.hostId) || !p.canServe() || host == null
                    || host.host.getDisableShared() || child.blockedParents.contains(p.id)) {
                continue;
            }
            eligible.add(p);
        }
        eligible.sort(Comparator.comparing((PeerRecord p) -> p.pieceCosts.lastIsSlow())
                .thenComparing(Comparator.comparingDouble((PeerRecord p) -> score(p, task, hosts.get(p.hostId), childHost)).reversed()));
        return eligible.subList(0, Math.min(config.candidateParentLimit(), eligible.size()));
    }

    double score(PeerRecord parent, TaskRecord task, HostRecord host, HostRecord childHost) {
        double held = parent.state == PeerRecord.State.SUCCEEDED ? 1.0
                : task.pieceCount > 0 ? (double) parent.pieces.cardinality() / task.pieceCount : 0.0;
        double free = Math.max(0.0, 1.0 - (double) host.assignedChildren / config.uploadSlotsPerHost());
        double seed = host.seed() ? 1.0 : 0.0;
        double locality = 0.0;
        if (childHost != null) {
            if (!host.idc().isEmpty() && host.idc().equals(childHost.idc())) {
                locality += 0.5;
            }
            if (!host.location().isEmpty() && host.location().equals(childHost.location())) {
                locality += 0.5;
            }
        }
        return 0.4 * held + 0.3 * free + 0.2 * seed + 0.1 * locality;
    }
}
