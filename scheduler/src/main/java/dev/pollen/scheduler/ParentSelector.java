package dev.pollen.scheduler;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.random.RandomGenerator;

/**
 * Chooses parents for a peer so that every uplink of the swarm is used, not only the seed's (BitTorrent and Kraken
 * spread children over every peer that has something to give; a star around the seed is capped by one uplink).
 *
 * <p>Who may be a parent: peers of the same task that can serve (downloading or done), never the peer itself,
 * another peer on its host, a host that disables sharing, a parent the peer blocked, or one it has already (a
 * reschedule keeps the parents it does not exclude). All seeds are looked at,
 * and a random sample of up to {@code filterParentLimit} other peers, as Dragonfly samples (LoadRandomPeers), so a
 * decision stays cheap in a huge swarm and different children see different peers.
 *
 * <p>How they rank: by the upload a parent can give this child, estimated as its host's uplink
 * ({@code max_tx_bandwidth}) divided among its children (those the scheduler assigned it, over every task, or as many
 * as its reported uploads amount to, whichever is more) plus this one, times the share of what the child lacks
 * that the parent holds. A parent still downloading counts as holding at least {@value #DOWNLOADING_FLOOR} of it:
 * it keeps gaining pieces, and its uplink is wasted if nobody follows it. A seed is a host like any other: once
 * it has children its share shrinks and peers that hold pieces rank ahead of it. Locality adds up to 10%. Each
 * decision counts its parents' new child at once, so the next child's ranking already differs. The best parent
 * that holds something the child lacks is always among those offered, so no child is given only empty parents
 * while a holder exists. A parent whose last piece was far slower than its others (Dragonfly's IsBadParent) ranks
 * after all the rest: Dragonfly drops it, Pollen keeps it as a last resort, as one slow piece (a GC pause) must
 * not send a child to the origin.
 */
final class ParentSelector {
    static final double DOWNLOADING_FLOOR = 0.1;

    private final SchedulingConfig config;
    private final RandomGenerator random;
    /** Reported piece uploads per child: a child keeps its concurrent pieces in flight spread over its parents. */
    private final int uploadsPerChild;

    ParentSelector(SchedulingConfig config, RandomGenerator random) {
        this.config = config;
        this.random = random;
        this.uploadsPerChild = Math.max(1, Math.ceilDiv(PeerRecord.DEFAULT_CONCURRENT_PIECE_COUNT, config.candidateParentLimit()));
    }

    private record Candidate(PeerRecord peer, boolean slow, boolean holder, double score, int tie) {
    }

    private static final Comparator<Candidate> RANKING = Comparator.comparing(Candidate::slow)
            .thenComparing(Comparator.comparingDouble(Candidate::score).reversed())
            .thenComparingInt(Candidate::tie);

    List<PeerRecord> select(PeerRecord child, TaskRecord task, Map<String, HostRecord> hosts) {
        HostRecord childHost = hosts.get(child.hostId);
        List<Candidate> eligible = new ArrayList<>();
        for (PeerRecord p : task.seedServers) {
            consider(p, child, task, hosts, childHost, eligible);
        }
        List<PeerRecord> servers = task.servers;
        int n = servers.size();
        int start = n > config.filterParentLimit() ? random.nextInt(n) : 0;
        int others = 0;
        for (int i = 0; i < n && others < config.filterParentLimit(); i++) {
            if (consider(servers.get((start + i) % n), child, task, hosts, childHost, eligible)) {
                others++;
            }
        }
        eligible.sort(RANKING);
        int k = Math.min(config.candidateParentLimit(), eligible.size());
        List<Candidate> chosen = new ArrayList<>(eligible.subList(0, k));
        if (chosen.stream().noneMatch(Candidate::holder)) {
            eligible.stream().filter(Candidate::holder).findFirst().ifPresent(best -> chosen.set(k - 1, best));
        }
        return chosen.stream().map(Candidate::peer).toList();
    }

    private boolean consider(PeerRecord p, PeerRecord child, TaskRecord task, Map<String, HostRecord> hosts, HostRecord childHost,
                             List<Candidate> eligible) {
        HostRecord host = hosts.get(p.hostId);
        if (p == child || p.hostId.equals(child.hostId) || !p.canServe() || host == null || host.host.getDisableShared()
                || child.blockedParents.contains(p.id) || child.parentHosts.contains(p.hostId)) {
            return false;
        }
        int needed = needed(p, child, task);
        int lacking = task.pieceCount > 0 ? Math.max(1, task.pieceCount - child.pieces.cardinality()) : Math.max(1, needed);
        double held = Math.min(1.0, (double) needed / lacking);
        double usefulness = p.state == PeerRecord.State.SUCCEEDED ? 1.0 : Math.max(DOWNLOADING_FLOOR, held);
        eligible.add(new Candidate(p, p.pieceCosts.lastIsSlow(), p.state == PeerRecord.State.SUCCEEDED || needed > 0,
                perChild(host) * usefulness * (1 + 0.1 * locality(host, childHost)), tie(child, p)));
        return true;
    }

    /** Pieces the parent holds that the child lacks. */
    private static int needed(PeerRecord parent, PeerRecord child, TaskRecord task) {
        if (parent.state == PeerRecord.State.SUCCEEDED && task.pieceCount > 0) {
            return task.pieceCount - child.pieces.cardinality();
        }
        if (child.pieces.isEmpty()) {
            return parent.pieces.cardinality();
        }
        BitSet missing = (BitSet) parent.pieces.clone();
        missing.andNot(child.pieces);
        return missing.cardinality();
    }

    /** The host's uplink, bits per second, shared by its children and the one being scheduled. */
    private double perChild(HostRecord host) {
        int load = Math.max(host.assignedChildren, Math.ceilDiv(host.reportedUploads(), uploadsPerChild));
        return (double) host.uploadBitsPerSecond(config.defaultUploadBitsPerSecond()) / (load + 1);
    }

    private static double locality(HostRecord host, HostRecord childHost) {
        double locality = 0.0;
        if (childHost != null) {
            if (!host.idc().isEmpty() && host.idc().equals(childHost.idc())) {
                locality += 0.5;
            }
            if (!host.location().isEmpty() && host.location().equals(childHost.location())) {
                locality += 0.5;
            }
        }
        return locality;
    }

    /** Breaks ties differently for each child, so equal parents are not handed out in one order to everyone. */
    private static int tie(PeerRecord child, PeerRecord parent) {
        int h = child.id.hashCode() * 31 + parent.id.hashCode();
        h ^= h >>> 16;
        return h * 0x45d9f3b;
    }
}
