package dev.pollen.scheduler;

import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Peer;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.proto.common.v2.Task;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;
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
         * The peer only announces a task it already holds (a seed asked for a task it has): Dragonfly answers
         * MetadataOnlyResponse without scheduling, and the peer then reports Started and Finished.
         */
        record MetadataOnly() implements Decision {
        }

        /**
         * Wait: nobody serves the task yet, but a seed will, or the peers the origin is granted to will. {@code trigger}
         * is the seed to ask now, or null. The peer is asked again with {@link #scheduleHeld} until it is answered.
         */
        record Held(Host trigger) implements Decision {
        }
    }

    /** A parent offered to a child: its peer id and the candidate as sent (constructSuccessNormalTaskResponse). */
    record Parent(String peerId, Peer candidate) {
    }

    /** Announcements a host may miss (late under load, or lost) before it is taken for dead. */
    static final int MISSED_ANNOUNCEMENTS = 3;

    private final Clock clock;
    private final SchedulingConfig config;
    private final ParentSelector selector;
    private final Map<String, HostRecord> hosts = new HashMap<>();
    private final Map<String, TaskRecord> tasks = new HashMap<>();
    private final Map<String, PeerRecord> peers = new HashMap<>();

    Cluster(Clock clock, SchedulingConfig config) {
        this(clock, config, new SplittableRandom());
    }

    /** @param random samples the peers a decision looks at; seeded, the decisions are reproducible */
    Cluster(Clock clock, SchedulingConfig config, RandomGenerator random) {
        this.clock = clock;
        this.config = config;
        this.selector = new ParentSelector(config, random);
    }

    synchronized void announceHost(Host host) {
        announceHost(host, Duration.ZERO);
    }

    /** @param interval how often the host says it announces itself (AnnounceHostRequest.interval); zero when unsaid */
    synchronized void announceHost(Host host, Duration interval) {
        HostRecord existing = hosts.get(host.getId());
        if (existing == null) {
            existing = new HostRecord(host, clock.instant());
            hosts.put(host.getId(), existing);
            log.info("event=host_joined host={} ip={} seed={}", host.getId(), host.getIp(), host.getType() != 0);
        } else {
            existing.host = host;
            existing.lastSeen = clock.instant();
        }
        existing.announceInterval = interval;
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

    /** Hosts, tasks and peers known now (the gauges pollen_scheduler_hosts, _tasks, _peers). */
    synchronized int hostCount() {
        return hosts.size();
    }

    synchronized int taskCount() {
        return tasks.size();
    }

    synchronized int peerCount() {
        return peers.size();
    }

    synchronized List<Host> hosts() {
        return hosts.values().stream().map(h -> h.host).toList();
    }

    /** ListHosts' filter as Dragonfly applies it: 0 the normal hosts, 1 the seeds, any other type none. */
    synchronized List<Host> hosts(int type) {
        return type != 0 && type != 1 ? List.of() : hosts.values().stream().filter(h -> h.host.getType() == type).map(h -> h.host).toList();
    }

    /**
     * Expires hosts that stopped announcing; their peers leave with them. A host that said how often it announces is
     * expired after {@value #MISSED_ANNOUNCEMENTS} missed announcements (so a dead node stops being offered as a
     * parent within seconds; Dragonfly's host GC uses 2 of them, checked every 5 minutes); one that did not, after
     * {@code hostTtl}. Neither waits longer than {@code hostTtl}.
     */
    synchronized int expireHosts() {
        Instant now = clock.instant();
        int expired = 0;
        for (HostRecord h : List.copyOf(hosts.values())) {
            Duration ttl = h.announceInterval.isPositive() && h.announceInterval.multipliedBy(MISSED_ANNOUNCEMENTS).compareTo(config.hostTtl()) < 0
                    ? h.announceInterval.multipliedBy(MISSED_ANNOUNCEMENTS) : config.hostTtl();
            if (h.lastSeen.isBefore(now.minus(ttl))) {
                log.info("event=host_expired host={} last_seen={}", h.host.getId(), h.lastSeen);
                deleteHost(h.host.getId());
                expired++;
            }
        }
        return expired;
    }

    /** A peer the scheduler does not know sent a message that needs it (Dragonfly answers NotFound too). */
    static final class PeerNotFoundException extends RuntimeException {
        PeerNotFoundException(String peerId) {
            super("peer " + peerId + " not found", null, false, false);
        }
    }

    /** Registers a peer of a download that names only its URL. */
    synchronized Decision register(String hostId, String taskId, String peerId, String url) {
        return register(hostId, taskId, peerId, Download.newBuilder().setUrl(url).build());
    }

    /**
     * Registers a peer and decides, in Dragonfly's order (service_v2.go, handleRegisterPeerRequest): a peer that
     * only announces what it holds (metadata_only) is told so; a task of length 0 is empty whatever else was asked; a peer that asks for the source gets it; else parents if any
     * can serve; else, when a seed peer exists and this peer is not on one, hold it while the seed starts
     * (triggering the seed once per task), so that only the seed goes to the origin; else the origin if the task's
     * back-to-source limit allows, else hold it until a parent can serve (see {@link #schedule}). One step under
     * the lock, so no other peer can be handed a held peer as its parent.
     */
    synchronized Decision register(String hostId, String taskId, String peerId, Download download) {
        HostRecord host = hosts.get(hostId);
        if (host == null) {
            return new Decision.BackToSource("host " + hostId + " has not announced itself; download from the source");
        }
        Instant now = clock.instant();
        TaskRecord task = tasks.computeIfAbsent(taskId, id -> new TaskRecord(id, now));
        describe(task, download);
        PeerRecord peer = peers.get(peerId);
        if (peer == null) {
            peer = new PeerRecord(peerId, taskId, hostId, host.seed(), now);
            peers.put(peerId, peer);
            task.peers.put(peerId, peer);
        } else {
            // A peer registering again (a new stream after its old one broke) starts over.
            releaseParents(peer);
            task.backToSource.remove(peerId);
        }
        peer.heldSince = null;
        peer.priority = download.getPriority();
        peer.range = download.hasRange() ? download.getRange() : null;
        peer.concurrentPieceCount = download.hasConcurrentPieceCount() ? download.getConcurrentPieceCount()
                : PeerRecord.DEFAULT_CONCURRENT_PIECE_COUNT;
        peer.needBackToSource = download.getNeedBackToSource();
        peer.updatedAt = now;
        task.state = TaskRecord.State.RUNNING;
        task.updatedAt = now;
        if (download.getMetadataOnly()) {
            setState(peer, task, PeerRecord.State.RECEIVED_NORMAL);
            return new Decision.MetadataOnly();
        }
        if (task.contentLength == 0) {
            setState(peer, task, PeerRecord.State.RECEIVED_EMPTY);
            return new Decision.Empty();
        }
        setState(peer, task, PeerRecord.State.RECEIVED_NORMAL);
        if (peer.needBackToSource) {
            // asked for by the peer itself: never refused, but it counts against the task's limit
            return toSource(peer, task, "peer's NeedBackToSource is true");
        }
        List<PeerRecord> chosen = selector.select(peer, task, hosts);
        if (!host.seed() && chosen.isEmpty()) {
            Host trigger = null;
            if (!task.seedTriggered) {
                trigger = hosts.values().stream().filter(HostRecord::seed).map(h -> h.host).findFirst().orElse(null);
                if (trigger != null) {
                    task.seedTriggered = true;
                    task.seedTriggeredAt = clock.instant();
                }
            }
            if (trigger != null || awaitingSeed(task)) {
                peer.heldSince = now;
                return new Decision.Held(trigger);
            }
        }
        return decide(peer, task, chosen);
    }

    /**
     * What a registrant says about the task. Dragonfly keeps the URL, query filter and headers of the latest
     * registrant and everything else from the first (service_v2.go, handleResource).
     *
     * <p>The length: Dragonfly stores the first registrant's actual_content_length/piece_count/piece_length
     * unconditionally, so an unset field (proto3 {@code optional}) reads as 0 and makes the task EMPTY for
     * everyone. Pollen treats an unset field as unknown: the task's length stays -1 until some registrant reports
     * it, and a later registrant's report is taken only while the length is still unknown (the first report
     * wins, as in Dragonfly).
     */
    private static void describe(TaskRecord task, Download download) {
        task.url = download.getUrl();
        task.filteredQueryParams = List.copyOf(download.getFilteredQueryParamsList());
        if (task.peers.isEmpty()) {
            task.type = download.getType();
            task.tag = download.hasTag() ? download.getTag() : null;
            task.application = download.hasApplication() ? download.getApplication() : null;
            task.digest = download.hasDigest() ? download.getDigest() : null;
        }
        if (task.contentLength < 0 && download.hasActualContentLength()) {
            task.contentLength = download.getActualContentLength();
            task.pieceLength = download.hasActualPieceLength() ? download.getActualPieceLength() : -1;
            if (download.hasActualPieceCount()) {
                task.pieceCount = (int) download.getActualPieceCount();
            } else if (task.contentLength == 0) {
                task.pieceCount = 0;
            } else if (task.pieceLength > 0) {
                task.pieceCount = (int) ((task.contentLength + task.pieceLength - 1) / task.pieceLength);
            }
        }
    }

    /** Whether a seed was asked for this task within the seed wait and does not serve it yet. */
    private boolean awaitingSeed(TaskRecord task) {
        if (!task.seedTriggered || clock.instant().isAfter(task.seedTriggeredAt.plus(config.seedWait()))) {
            return false;
        }
        return task.seedServers.isEmpty();
    }

    /**
     * For a held peer, asked again until it is answered (the service polls): its parents as soon as any can serve;
     * null while a triggered seed is awaited, or while the task's back-to-source limit is taken and the hold is
     * younger than {@code holdTimeout} (the peer stays held, and nobody is given it as a parent meanwhile); the
     * origin when the limit allows; past the timeout, the origin anyway, logged: an answer before the peer's own
     * schedule timeout beats its giving up on the scheduler.
     */
    synchronized Decision scheduleHeld(String peerId) {
        PeerRecord peer = peers.get(peerId);
        if (peer == null) {
            return new Decision.BackToSource("peer " + peerId + " is not registered");
        }
        TaskRecord task = tasks.get(peer.taskId);
        if (selector.select(peer, task, hosts).isEmpty()) {
            if (awaitingSeed(task)) {
                return null;
            }
            if (!mayGoToSource(peer, task)) {
                Instant now = clock.instant();
                if (peer.heldSince != null && now.isBefore(peer.heldSince.plus(config.holdTimeout()))) {
                    return null;
                }
                log.warn("event=back_to_source_over_limit task={} peer={} held_ms={} back_to_source_peers={} limit={}", task.id,
                        peer.id, peer.heldSince == null ? 0 : Duration.between(peer.heldSince, now).toMillis(),
                        task.backToSource.size(), config.backToSourceLimit());
                peer.heldSince = null;
                return toSource(peer, task, "no parent for task " + task.id + " within " + config.holdTimeout().toMillis()
                        + " ms although its back-to-source limit is taken");
            }
        }
        peer.heldSince = null;
        return schedule(peer, task);
    }

    /** Parents other than {@code excludedParents}, which stay blocked for this peer (Dragonfly's BlockParents). */
    synchronized Decision reschedule(String peerId, List<String> excludedParents) {
        PeerRecord peer = known(peerId);
        // A child's report of a parent's failure and its reschedule come from different threads: whichever arrives
        // first blocks the parent, and the block is logged once either way.
        for (String parentId : excludedParents) {
            if (!parentId.isEmpty() && peer.blockedParents.add(parentId)) {
                log.info("event=parent_blocked task={} peer={} parent={} reason=reschedule", peer.taskId, peerId, parentId);
            }
        }
        peer.updatedAt = clock.instant();
        // The child keeps the parents it did not exclude (Pollen's agent does): they stay counted against their
        // uplinks, and the answer names others. Naming a kept parent again would waste a candidate on it and count the
        // child twice. Nobody new: the answer is the one a fresh decision gives, as before.
        for (String parentId : excludedParents) {
            PeerRecord parent = peers.get(parentId);
            if (parent != null && peer.parentHosts.remove(parent.hostId)) {
                unassign(parent.hostId);
            }
        }
        TaskRecord task = tasks.get(peer.taskId);
        List<PeerRecord> others = selector.select(peer, task, hosts);
        return others.isEmpty() ? schedule(peer, task) : decide(peer, task, others);
    }

    /**
     * Parents; else the source if the task's back-to-source limit allows (Dragonfly's CanBackToSource, with a small
     * limit: the origin is protected); else hold the peer until a parent can serve or a grant frees. The peer's
     * state is left to its own reports (Started, BackToSourceStarted), as in Dragonfly: only then is it offered to
     * others.
     */
    private Decision schedule(PeerRecord peer, TaskRecord task) {
        releaseParents(peer);
        return decide(peer, task, selector.select(peer, task, hosts));
    }

    /** {@link #schedule} once the parents are chosen (and the peer's previous ones released). */
    private Decision decide(PeerRecord peer, TaskRecord task, List<PeerRecord> chosen) {
        if (chosen.isEmpty()) {
            if (!mayGoToSource(peer, task)) {
                log.debug("event=scheduled task={} peer={} decision=held back_to_source_peers={}", task.id, peer.id,
                        task.backToSource.size());
                peer.heldSince = clock.instant();
                return new Decision.Held(null);
            }
            log.debug("event=scheduled task={} peer={} decision=back_to_source", task.id, peer.id);
            return toSource(peer, task, "no peer holds task " + task.id + " yet");
        }
        if (peer.state != PeerRecord.State.BACK_TO_SOURCE) {
            // a grant the peer was given but did not use yet: it fetches from parents now
            task.backToSource.remove(peer.id);
        }
        log.debug("event=scheduled task={} peer={} decision=parents parents={}", task.id, peer.id,
                chosen.stream().map(p -> p.id).toList());
        Task taskView = Protos.task(task).build();
        List<Parent> parents = new ArrayList<>();
        for (PeerRecord p : chosen) {
            HostRecord h = hosts.get(p.hostId);
            h.assignedChildren++;
            peer.parentHosts.add(p.hostId);
            parents.add(new Parent(p.id, Protos.peer(p, taskView, h)));
        }
        return new Decision.Parents(parents);
    }

    /** A seed goes to the origin whenever it needs to (the scheduler triggered it); other peers within the limit. */
    private boolean mayGoToSource(PeerRecord peer, TaskRecord task) {
        return peer.onSeed || task.backToSource.contains(peer.id) || task.backToSource.size() < config.backToSourceLimit();
    }

    private Decision toSource(PeerRecord peer, TaskRecord task, String reason) {
        task.backToSource.add(peer.id);
        return new Decision.BackToSource(reason);
    }

    private static void setState(PeerRecord peer, TaskRecord task, PeerRecord.State state) {
        peer.state = state;
        task.updateServing(peer);
    }

    /**
     * DownloadPeerStarted / DownloadPeerBackToSourceStarted. Dragonfly's FSM rejects a few orders (Started after
     * BackToSourceStarted fails the peer); Pollen follows the latest report and ignores reports after the end.
     */
    synchronized void started(String peerId, boolean backToSource) {
        PeerRecord p = known(peerId);
        if (!p.finished()) {
            TaskRecord t = tasks.get(p.taskId);
            setState(p, t, backToSource ? PeerRecord.State.BACK_TO_SOURCE : PeerRecord.State.RUNNING);
            if (backToSource) {
                // counted even if the scheduler did not send it there: the limit is about the origin's load
                t.backToSource.add(peerId);
            }
            p.updatedAt = clock.instant();
        }
    }

    /**
     * DownloadPiece(BackToSource)Finished: the peer holds the piece, its cost counts towards its speed, and the
     * parent it came from is alive. Only pieces from the source are kept on the task, as in Dragonfly
     * (handleDownloadPieceBackToSourceFinishedRequest, Task.StorePiece): StatTask lists those. From a peer the
     * scheduler does not know, ignored: Dragonfly only logs a piece handler's error.
     */
    synchronized void pieceFinished(String peerId, Piece piece, boolean backToSource) {
        PeerRecord p = peers.get(peerId);
        if (p == null) {
            return;
        }
        Instant now = clock.instant();
        p.pieces.set(piece.getNumber());
        p.pieceCosts.add(Math.max(0, piece.getCost().getSeconds() * 1_000_000_000L + piece.getCost().getNanos()));
        p.updatedAt = now;
        TaskRecord t = tasks.get(p.taskId);
        t.updatedAt = now;
        if (backToSource) {
            t.pieces.put(piece.getNumber(), piece.toBuilder().clearContent().build());
        } else if (piece.hasParentId()) {
            PeerRecord parent = peers.get(piece.getParentId());
            if (parent != null) {
                parent.updatedAt = now;
                HostRecord h = hosts.get(parent.hostId);
                if (h != null) {
                    h.lastSeen = now;
                }
            }
        }
    }

    /**
     * DownloadPieceFailed: the parent is not offered to this peer again. Dragonfly blocks it only when
     * {@code temporary} (a Rust peer always sends true) and ignores a permanent failure; Pollen's agent sends
     * false for a parent that failed a piece and true for a slow one, and excludes both when it reschedules, so
     * Pollen blocks the parent either way.
     */
    synchronized void pieceFailed(String peerId, String parentId, boolean temporary) {
        PeerRecord p = peers.get(peerId);
        if (p == null) {
            return;
        }
        p.updatedAt = clock.instant();
        if (!parentId.isEmpty() && p.blockedParents.add(parentId)) {
            log.info("event=parent_blocked task={} peer={} parent={} temporary={}", p.taskId, peerId, parentId, temporary);
        }
    }

    /**
     * DownloadPeer(BackToSource)Finished (no fields: length and piece count are reserved in the proto). The task
     * succeeds when a whole-task peer finishes from the source, as in Dragonfly
     * (handleDownloadPeerBackToSourceFinishedRequest). Pollen also marks it Succeeded when a whole-task peer
     * finishes from parents: that peer holds every piece, so the task is complete, and a child that stats the
     * task through a parent (whose StatTask answers what the scheduler holds) must see it so; Dragonfly leaves
     * such a task Running.
     */
    synchronized void finished(String peerId, boolean backToSource) {
        PeerRecord p = known(peerId);
        if (p.finished()) {
            return;
        }
        Instant now = clock.instant();
        TaskRecord t = tasks.get(p.taskId);
        setState(p, t, PeerRecord.State.SUCCEEDED);
        t.backToSource.remove(peerId);
        p.cost = Duration.between(p.createdAt, now);
        p.updatedAt = now;
        log.info("event=peer_finished task={} peer={} back_to_source={}", p.taskId, peerId, backToSource);
        if (t.pieceCount > 0) {
            p.pieces.set(0, t.pieceCount);
        }
        if (p.range == null) {
            t.state = TaskRecord.State.SUCCEEDED;
        }
        t.updatedAt = now;
        releaseParents(p);
    }

    /**
     * DownloadPeer(BackToSource)Failed. A failure from the source fails the task and forgets its length, as in
     * Dragonfly (handleDownloadPeerBackToSourceFailedRequest), so the next registrant's report is taken. Unlike
     * Dragonfly, a task another peer completed stays Succeeded with its length: one peer's failed origin fetch
     * does not undo a finished download.
     */
    synchronized void failed(String peerId, boolean backToSource) {
        PeerRecord p = known(peerId);
        if (p.finished()) {
            return;
        }
        Instant now = clock.instant();
        TaskRecord t = tasks.get(p.taskId);
        setState(p, t, PeerRecord.State.FAILED);
        t.backToSource.remove(peerId);
        p.updatedAt = now;
        releaseParents(p);
        t.updatedAt = now;
        if (backToSource && t.state != TaskRecord.State.SUCCEEDED) {
            t.state = TaskRecord.State.FAILED;
            t.contentLength = -1;
            t.pieceCount = -1;
            t.pieceLength = -1;
        }
    }

    /** The peer's stream ended: an unfinished peer can no longer serve anyone. */
    synchronized void left(String peerId) {
        PeerRecord p = peers.get(peerId);
        if (p != null && p.state != PeerRecord.State.SUCCEEDED) {
            log.info("event=peer_left task={} peer={} state={}", p.taskId, peerId, p.state.label);
            removePeer(p);
        }
    }

    synchronized Optional<PeerRecord> peer(String peerId) {
        return Optional.ofNullable(peers.get(peerId));
    }

    /** StatTask as Dragonfly answers it. */
    synchronized Optional<Task> statTask(String taskId) {
        return Optional.ofNullable(tasks.get(taskId)).map(Protos::statTask);
    }

    /** StatPeer as Dragonfly answers it: the peer with its task (and its pieces) and its host. */
    synchronized Optional<Peer> statPeer(String peerId) {
        PeerRecord p = peers.get(peerId);
        return p == null ? Optional.empty() : Optional.of(Protos.peer(p, Protos.statTask(tasks.get(p.taskId)), hosts.get(p.hostId)));
    }

    synchronized boolean deletePeer(String peerId) {
        PeerRecord p = peers.get(peerId);
        if (p != null) {
            removePeer(p);
        }
        return p != null;
    }

    /**
     * DeleteTask as Dragonfly does it: the host's peers of the task leave; others' stay. False when the host is
     * unknown. (The task goes with its last peer: Pollen has no task GC to reclaim it later.)
     */
    synchronized boolean deleteTask(String hostId, String taskId) {
        if (!hosts.containsKey(hostId)) {
            return false;
        }
        TaskRecord t = tasks.get(taskId);
        if (t != null) {
            for (PeerRecord p : List.copyOf(t.peers.values())) {
                if (p.hostId.equals(hostId)) {
                    removePeer(p);
                }
            }
        }
        return true;
    }

    private PeerRecord known(String peerId) {
        PeerRecord p = peers.get(peerId);
        if (p == null) {
            throw new PeerNotFoundException(peerId);
        }
        return p;
    }

    private void releaseParents(PeerRecord child) {
        child.parentHosts.forEach(this::unassign);
        child.parentHosts.clear();
    }

    private void unassign(String hostId) {
        HostRecord h = hosts.get(hostId);
        if (h != null && h.assignedChildren > 0) {
            h.assignedChildren--;
        }
    }

    private void removePeer(PeerRecord p) {
        releaseParents(p);
        peers.remove(p.id);
        p.state = PeerRecord.State.LEAVE;
        TaskRecord t = tasks.get(p.taskId);
        if (t != null) {
            t.peers.remove(p.id);
            t.updateServing(p);
            t.backToSource.remove(p.id);
            if (t.peers.isEmpty()) {
                tasks.remove(t.id);
            }
        }
    }
}
