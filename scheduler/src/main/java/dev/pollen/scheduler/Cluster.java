package dev.pollen.scheduler;

import dev.pollen.proto.common.v2.Host;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the scheduler knows: hosts, tasks, their peers and which pieces each peer holds. One lock
 * guards it all; every operation is a few map lookups, so the lock is held for microseconds.
 */
final class Cluster {
    private static final Logger log = LoggerFactory.getLogger(Cluster.class);

    /** What a peer should do next. */
    sealed interface Decision {
        record Parents(List<Parent> parents) implements Decision {
        }

        record BackToSource(String reason) implements Decision {
        }

        record Empty() implements Decision {
        }

        /**
         * Wait: nobody serves the task yet but a seed will. {@code trigger} is the seed to ask now, or
         * null when it was already asked.
         */
        record Held(Host trigger) implements Decision {
        }
    }

    /** A parent offered to a child: its peer id and host. */
    record Parent(String peerId, Host host) {
    }

    private final Clock clock;
    private final SchedulingConfig config;
    private final ParentSelector selector;
    private final Map<String, HostRecord> hosts = new HashMap<>();
    private final Map<String, TaskRecord> tasks = new HashMap<>();
    private final Map<String, PeerRecord> peers = new HashMap<>();

    Cluster(Clock clock, SchedulingConfig config) {
        this.clock = clock;
        this.config = config;
        this.selector = new ParentSelector(config);
    }

    synchronized void announceHost(Host host) {
        HostRecord existing = hosts.get(host.getId());
        if (existing == null) {
            hosts.put(host.getId(), new HostRecord(host, clock.instant()));
            log.info("event=host_joined host={} ip={} seed={}", host.getId(), host.getIp(), host.getType() != 0);
        } else {
            existing.host = host;
            existing.lastSeen = clock.instant();
        }
    }

    synchronized boolean deleteHost(String hostId) {
        HostRecord removed = hosts.remove(hostId);
        for (PeerRecord p : List.copyOf(peers.values())) {
            if (p.hostId.equals(hostId)) {
                removePeer(p);
            }
        }
        if (removed != null) {
            log.info("event=host_left host={}", hostId);
        }
        return removed != null;
    }

    synchronized List<Host> hosts() {
        return hosts.values().stream().map(h -> h.host).toList();
    }

    /** Expires hosts that stopped announcing; their peers leave with them. */
    synchronized int expireHosts() {
        Instant cutoff = clock.instant().minus(config.hostTtl());
        int expired = 0;
        for (HostRecord h : List.copyOf(hosts.values())) {
            if (h.lastSeen.isBefore(cutoff)) {
                log.info("event=host_expired host={} last_seen={}", h.host.getId(), h.lastSeen);
                deleteHost(h.host.getId());
                expired++;
            }
        }
        return expired;
    }

    /**
     * Registers a peer and decides: parents if any can serve; else, when a seed peer exists and this
     * peer is not on one, hold it while the seed starts (triggering the seed once per task), so that
     * only the seed goes to the origin; else the origin. One step under the lock, so no other peer
     * can be handed a held peer as its parent.
     */
    synchronized Decision register(String hostId, String taskId, String peerId, String url, java.time.Duration seedWait) {
        HostRecord host = hosts.get(hostId);
        if (host == null) {
            return new Decision.BackToSource("host " + hostId + " has not announced itself; download from the source");
        }
        TaskRecord task = tasks.computeIfAbsent(taskId, id -> new TaskRecord(id, clock.instant()));
        task.url = url;
        PeerRecord peer = peers.get(peerId);
        if (peer == null) {
            peer = new PeerRecord(peerId, taskId, hostId, clock.instant());
            peers.put(peerId, peer);
            task.peers.put(peerId, peer);
        }
        if (task.contentLength == 0) {
            return new Decision.Empty();
        }
        if (!host.seed() && selector.select(peer, task, hosts).isEmpty()) {
            Host trigger = null;
            if (!task.seedTriggered) {
                trigger = hosts.values().stream().filter(HostRecord::seed).map(h -> h.host).findFirst().orElse(null);
                if (trigger != null) {
                    task.seedTriggered = true;
                    task.seedTriggeredAt = clock.instant();
                }
            }
            if (trigger != null || awaitingSeed(task, seedWait)) {
                peer.state = PeerRecord.State.PENDING;
                return new Decision.Held(trigger);
            }
        }
        return schedule(peer, task);
    }

    /** Whether a seed was asked for this task within {@code wait} and does not serve it yet. */
    synchronized boolean awaitingSeed(String taskId, java.time.Duration wait) {
        TaskRecord task = tasks.get(taskId);
        return task != null && awaitingSeed(task, wait);
    }

    private boolean awaitingSeed(TaskRecord task, java.time.Duration wait) {
        if (!task.seedTriggered || clock.instant().isAfter(task.seedTriggeredAt.plus(wait))) {
            return false;
        }
        return task.peers.values().stream().noneMatch(p -> p.canServe() && hosts.containsKey(p.hostId) && hosts.get(p.hostId).seed());
    }

    /**
     * For a peer held while a seed starts: its parents if any can serve now; otherwise, while
     * {@code keepWaiting}, null and the peer stays held (so nobody is given it as a parent meanwhile),
     * else the usual decision.
     */
    synchronized Decision scheduleHeld(String peerId, boolean keepWaiting) {
        PeerRecord peer = peers.get(peerId);
        if (peer == null) {
            return new Decision.BackToSource("peer " + peerId + " is not registered");
        }
        TaskRecord task = tasks.get(peer.taskId);
        if (keepWaiting && selector.select(peer, task, hosts).isEmpty()) {
            return null;
        }
        return schedule(peer, task);
    }

    synchronized Decision reschedule(String peerId, List<String> excludedParents) {
        PeerRecord peer = peers.get(peerId);
        if (peer == null) {
            return new Decision.BackToSource("peer " + peerId + " is not registered");
        }
        peer.blockedParents.addAll(excludedParents);
        return schedule(peer, tasks.get(peer.taskId));
    }

    private Decision schedule(PeerRecord peer, TaskRecord task) {
        releaseParents(peer);
        List<PeerRecord> chosen = selector.select(peer, task, hosts);
        if (chosen.isEmpty()) {
            peer.state = PeerRecord.State.BACK_TO_SOURCE;
            log.debug("event=scheduled task={} peer={} decision=back_to_source", task.id, peer.id);
            return new Decision.BackToSource("no peer holds task " + task.id + " yet");
        }
        log.debug("event=scheduled task={} peer={} decision=parents parents={}", task.id, peer.id,
                chosen.stream().map(p -> p.id).toList());
        peer.state = PeerRecord.State.RUNNING;
        List<Parent> parents = new ArrayList<>();
        for (PeerRecord p : chosen) {
            HostRecord h = hosts.get(p.hostId);
            h.assignedChildren++;
            peer.parentHosts.add(p.hostId);
            parents.add(new Parent(p.id, h.host));
        }
        return new Decision.Parents(parents);
    }

    synchronized void started(String peerId, boolean backToSource) {
        PeerRecord p = peers.get(peerId);
        if (p != null) {
            p.state = backToSource ? PeerRecord.State.BACK_TO_SOURCE : PeerRecord.State.RUNNING;
            p.updatedAt = clock.instant();
        }
    }

    synchronized void pieceFinished(String peerId, int number, long length, long offset) {
        PeerRecord p = peers.get(peerId);
        if (p != null) {
            p.pieces.set(number);
            p.updatedAt = clock.instant();
            TaskRecord t = tasks.get(p.taskId);
            if (t.pieceLength == 0 && offset == 0) {
                t.pieceLength = length;
            }
        }
    }

    synchronized void pieceFailed(String peerId, String parentId, boolean temporary) {
        PeerRecord p = peers.get(peerId);
        if (p != null && !temporary && !parentId.isEmpty()) {
            p.blockedParents.add(parentId);
            log.info("event=parent_blocked task={} peer={} parent={}", p.taskId, peerId, parentId);
        }
    }

    synchronized void finished(String peerId, long contentLength, int pieceCount) {
        PeerRecord p = peers.get(peerId);
        if (p == null) {
            return;
        }
        p.state = PeerRecord.State.SUCCEEDED;
        p.updatedAt = clock.instant();
        log.info("event=peer_finished task={} peer={} pieces={}", p.taskId, peerId, pieceCount);
        TaskRecord t = tasks.get(p.taskId);
        if (contentLength >= 0) {
            t.contentLength = contentLength;
        }
        if (pieceCount >= 0) {
            t.pieceCount = pieceCount;
            p.pieces.set(0, pieceCount);
        }
        releaseParents(p);
    }

    synchronized void failed(String peerId) {
        PeerRecord p = peers.get(peerId);
        if (p != null) {
            p.state = PeerRecord.State.FAILED;
            releaseParents(p);
        }
    }

    /** The peer's stream ended: an unfinished peer can no longer serve anyone. */
    synchronized void left(String peerId) {
        PeerRecord p = peers.get(peerId);
        if (p != null && p.state != PeerRecord.State.SUCCEEDED) {
            log.info("event=peer_left task={} peer={} state={}", p.taskId, peerId, p.state);
            removePeer(p);
        }
    }

    synchronized Optional<PeerRecord> peer(String peerId) {
        return Optional.ofNullable(peers.get(peerId));
    }

    synchronized Optional<TaskRecord> task(String taskId) {
        return Optional.ofNullable(tasks.get(taskId));
    }

    synchronized boolean deletePeer(String peerId) {
        PeerRecord p = peers.get(peerId);
        if (p != null) {
            removePeer(p);
        }
        return p != null;
    }

    synchronized boolean deleteTask(String taskId) {
        TaskRecord t = tasks.remove(taskId);
        if (t != null) {
            t.peers.keySet().forEach(peers::remove);
        }
        return t != null;
    }

    private void releaseParents(PeerRecord child) {
        for (String hostId : child.parentHosts) {
            HostRecord h = hosts.get(hostId);
            if (h != null && h.assignedChildren > 0) {
                h.assignedChildren--;
            }
        }
        child.parentHosts.clear();
    }

    private void removePeer(PeerRecord p) {
        releaseParents(p);
        peers.remove(p.id);
        p.state = PeerRecord.State.LEFT;
        TaskRecord t = tasks.get(p.taskId);
        if (t != null) {
            t.peers.remove(p.id);
            if (t.peers.isEmpty()) {
                tasks.remove(t.id);
            }
        }
    }
}
