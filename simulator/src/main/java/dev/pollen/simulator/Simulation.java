package dev.pollen.simulator;

import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Network;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.proto.common.v2.TrafficType;
import dev.pollen.scheduler.SchedulingCore;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;

/**
 * A flow-level, discrete-event simulation of one task's swarm in virtual time.
 *
 * <p>Model. Every piece request waits one round trip (2 × both ends' one-way latency), then takes an upload slot at
 * its parent (or waits in the parent's queue) and becomes a transfer. A transfer's rate is the smaller of its
 * uplink's and its downlink's equal share: {@code min(up(src) / uploads(src), down(dst) / downloads(dst))}, recomputed
 * for every transfer on both links whenever one starts or ends (slack a transfer limited elsewhere leaves on a link is
 * not redistributed, so a mix of bottlenecks is slightly pessimistic). No TCP dynamics, no disk, no CPU. Control
 * messages to the scheduler take the agent's one-way latency each way; piece reports reach it at once. Every
 * decision is made by the production scheduler code ({@link SchedulerPort}, with the simulation's virtual clock) and
 * the agent's policy ({@link AgentPolicy}).
 */
public final class Simulation {
    static final String TASK_ID = "5f1e0c8d3b2a4e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f";
    static final String URL = "http://origin.sim/file";
    /** ParentSet.STALL_NANOS: a piece no parent announces for this long asks the scheduler again. */
    static final double STALL = 3.0;
    /** download.pieceTimeout's default, also the slow-parent rule's ceiling. */
    static final double PIECE_TIMEOUT = 60.0;
    static final double SLOW_FLOOR = 2.0;
    static final int SLOW_FACTOR = 4;
    /** Nothing simulated runs longer: a stuck swarm ends with its stuck nodes counted. */
    static final double HORIZON = 24 * 3600.0;

    private final SimConfig config;
    private final AgentPolicy policy;
    private final int pieceCount;
    private final VirtualClock clock = new VirtualClock();
    private final EventQueue events = new EventQueue();
    private SchedulerPort scheduler;
    private final Random random;
    private final List<SimNode> nodes = new ArrayList<>();
    private final Map<String, SimNode> byPeer = new HashMap<>();
    private final Map<String, SimNode> byHost = new HashMap<>();
    private final SimNode origin;
    private SimNode seed;
    private int unfinished;
    /** The narrowest downlink of any receiver: what {@link #sharedThreshold} compares uplink shares with. */
    private double minDown = Units.UNLIMITED;
    private long decisions;
    private long decisionNanos;
    private long messages;
    private long messageNanos;

    public Simulation(SimConfig config) {
        this(config, c -> new CoreScheduler(c, config.scheduling(), new java.util.Random(config.seed())));
    }

    Simulation(SimConfig config, Function<java.time.Clock, SchedulerPort> schedulerFactory) {
        this.config = config;
        this.policy = AgentPolicies.byName(config.policy());
        this.pieceCount = config.pieceCount();
        this.random = new Random(config.seed());
        this.scheduler = schedulerFactory.apply(clock);
        origin = add(SimNode.Kind.ORIGIN, "origin", config.originUp(), Units.UNLIMITED, 0.0, Integer.MAX_VALUE);
        if (config.seedPeer()) {
            seed = add(SimNode.Kind.SEED, "seed", config.seedUp(), Units.UNLIMITED, latency(), policy.uploadSlots(config.seedUp()));
        }
        int slow = (int) Math.round(config.slowShare() * config.agents());
        for (int i = 0; i < config.agents(); i++) {
            double factor = i < slow ? config.slowFactor() : 1.0;
            double up = config.agentUp() / factor;
            add(SimNode.Kind.AGENT, "agent-" + i, up, config.agentDown() / factor, latency(), policy.uploadSlots(up));
        }
        for (SimNode n : nodes) {
            if (n.kind != SimNode.Kind.ORIGIN) {
                minDown = Math.min(minDown, n.down);
            }
        }
        planAgents();
    }

    private double latency() {
        return config.latencyMin() + random.nextDouble() * (config.latencyMax() - config.latencyMin());
    }

    private SimNode add(SimNode.Kind kind, String name, double up, double down, double latency, int slots) {
        SimNode n = new SimNode(nodes.size(), kind, "host-" + name, "peer-" + name, up, down, latency, slots);
        nodes.add(n);
        byPeer.put(n.peerId, n);
        byHost.put(n.hostId, n);
        return n;
    }

    /** Who starts when and who leaves: drawn once, in node order, from the seed. */
    private void planAgents() {
        List<SimNode> agents = agents();
        int late = (int) Math.round(config.lateJoin() * agents.size());
        int churn = (int) Math.round(config.churn() * agents.size());
        List<SimNode> shuffled = new ArrayList<>(agents);
        java.util.Collections.shuffle(shuffled, random);
        for (int i = 0; i < shuffled.size(); i++) {
            SimNode a = shuffled.get(i);
            a.launchAt = i < late ? random.nextDouble() * config.lateWindow() : 0.0;
            // churners are drawn from the on-time agents first
            if (i >= late && i < late + churn || churn > agents.size() - late && i < churn - (agents.size() - late)) {
                a.leaveAfterPieces = Math.max(1, (int) Math.round(pieceCount * (0.1 + 0.8 * random.nextDouble())));
            }
        }
        for (SimNode a : agents) {
            double registerAt = a.launchAt + config.startDelay() + random.nextDouble() * config.startJitter();
            events.at(registerAt, () -> launch(a));
        }
        unfinished = agents.size();
    }

    /** Lets the scheduler's state be collected, so the caller can measure what it held. */
    void dropScheduler() {
        scheduler = null;
    }

    List<SimNode> agents() {
        return nodes.stream().filter(n -> n.kind == SimNode.Kind.AGENT).toList();
    }

    /** Every node, the origin first: what {@link SimResult#of} reads. */
    List<SimNode> nodes() {
        return List.copyOf(nodes);
    }

    SimNode origin() {
        return origin;
    }

    SimNode seed() {
        return seed;
    }

    /** Runs until every agent finished or left (or the horizon); returns what happened. */
    public SimResult run() {
        for (SimNode n : nodes) {
            if (n.kind != SimNode.Kind.ORIGIN) {
                message(() -> scheduler.announceHost(host(n)));
            }
        }
        long wallStart = System.nanoTime();
        while (unfinished > 0 && events.runNext(HORIZON, clock)) {
            // every event runs in runNext
        }
        return SimResult.of(config, policy.name(), nodes, events.now(), events.processed(), System.nanoTime() - wallStart,
                decisions, decisionNanos, messages, messageNanos);
    }

    private Host host(SimNode n) {
        // max_tx/rx_bandwidth in bits per second, as the agent's host announcement gives them
        Network network = Network.newBuilder().setMaxTxBandwidth((long) (n.up * 8)).setMaxRxBandwidth((long) Math.min(n.down * 8, Long.MAX_VALUE))
                .setIdc("").setLocation("").build();
        return Host.newBuilder().setId(n.hostId).setType(n.kind == SimNode.Kind.SEED ? 1 : 0).setHostname(n.hostId)
                .setIp("10." + (n.index >> 16 & 255) + "." + (n.index >> 8 & 255) + "." + (n.index & 255))
                .setPort(4000).setDownloadPort(4005).setNetwork(network).build();
    }

    // ---- the scheduler, timed ----

    private SchedulerPort.Decision decide(java.util.function.Supplier<SchedulerPort.Decision> call) {
        long start = System.nanoTime();
        SchedulerPort.Decision d = call.get();
        long took = System.nanoTime() - start;
        decisions++;
        decisionNanos += took;
        messages++;
        messageNanos += took;
        return d;
    }

    private void message(Runnable call) {
        long start = System.nanoTime();
        call.run();
        messages++;
        messageNanos += System.nanoTime() - start;
    }

    // ---- registration ----

    private void launch(SimNode n) {
        if (n.state != SimNode.State.IDLE) {
            return;
        }
        n.state = SimNode.State.REGISTERING;
        if (Double.isNaN(n.launchAt)) {
            n.launchAt = events.now();
        }
        Download download = Download.newBuilder().setUrl(URL).setActualContentLength(config.fileBytes())
                .setActualPieceLength(config.pieceBytes()).setActualPieceCount(pieceCount)
                .setConcurrentPieceCount(policy.concurrentPieces()).build();
        events.at(events.now() + n.latency, () -> {
            SchedulerPort.Decision d = decide(() -> scheduler.register(n.hostId, TASK_ID, n.peerId, download));
            atScheduler(n, d);
        });
    }

    /** A decision taken at the scheduler: a held peer is polled there; any other answer travels back to the agent. */
    private void atScheduler(SimNode n, SchedulerPort.Decision d) {
        if (d instanceof SchedulerPort.Decision.Held held) {
            n.state = SimNode.State.HELD;
            if (held.triggerHostId() != null) {
                SimNode s = byHost.get(held.triggerHostId());
                // DfdaemonUpload.DownloadTask reaches the seed, which registers like any agent
                events.at(events.now() + s.latency, () -> launch(s));
            }
            events.at(events.now() + SchedulingCore.HELD_POLL.toNanos() / 1e9, () -> poll(n));
            return;
        }
        events.at(events.now() + n.latency, () -> answered(n, d));
    }

    private void poll(SimNode n) {
        if (n.state != SimNode.State.HELD) {
            return;
        }
        SchedulerPort.Decision d = decide(() -> scheduler.pollHeld(TASK_ID, n.peerId));
        if (d == null) {
            events.at(events.now() + SchedulingCore.HELD_POLL.toNanos() / 1e9, () -> poll(n));
        } else {
            atScheduler(n, d);
        }
    }

    private void answered(SimNode n, SchedulerPort.Decision d) {
        if (n.state == SimNode.State.LEFT) {
            return;
        }
        n.state = SimNode.State.DOWNLOADING;
        n.lastAnnouncement = events.now();
        if (d instanceof SchedulerPort.Decision.Parents p) {
            addParents(n, p.peerIds());
            message(() -> scheduler.started(n.peerId, false));
        } else {
            n.originMode = true;
            message(() -> scheduler.started(n.peerId, true));
        }
        tryFill(n);
    }

    private void addParents(SimNode n, List<String> peerIds) {
        for (String id : peerIds) {
            SimNode p = byPeer.get(id);
            if (p == null || n.link(p) != null) {
                continue;
            }
            ParentLink l = new ParentLink(p);
            l.gone = p.state == SimNode.State.LEFT;
            n.parents.add(l);
            p.followers.add(n);
        }
    }

    // ---- the agent's download loop ----

    private void tryFill(SimNode n) {
        if (n.state != SimNode.State.DOWNLOADING) {
            return;
        }
        int slots = policy.concurrentPieces();
        while (n.slotsUsed < slots) {
            if (n.originMode) {
                int p = n.taken.nextClearBit(0);
                if (p >= pieceCount) {
                    return;
                }
                request(n, p, null);
                continue;
            }
            AgentPolicy.Choice c = policy.choose(n, pieceCount, random);
            if (c != null) {
                request(n, c.piece(), c.parent());
            } else if (n.originCredits > 0 && n.wantsMore(pieceCount)) {
                n.originCredits--;
                request(n, n.taken.nextClearBit(0), null);
            } else {
                break;
            }
        }
        if (n.slotsUsed < slots && n.wantsMore(pieceCount)) {
            if (!n.hasUsableParent()) {
                reschedule(n);
            } else if (!n.waitCheckPending) {
                n.waitCheckPending = true;
                events.at(Math.max(events.now(), stallAt(n)), () -> waitCheck(n));
            }
        }
    }

    /** A download waiting for pieces its parents do not announce: after {@link #STALL} of silence, reschedule. */
    private void waitCheck(SimNode n) {
        n.waitCheckPending = false;
        if (n.state != SimNode.State.DOWNLOADING || n.originMode || n.slotsUsed >= policy.concurrentPieces()
                || !n.wantsMore(pieceCount)) {
            return;
        }
        if (events.now() + 1e-9 < stallAt(n)) {
            n.waitCheckPending = true;
            events.at(stallAt(n), () -> waitCheck(n));
        } else if (n.stalledOnce && policy.stalledPiecesToOrigin()) {
            // PeerDownload.fetch: a piece that no parent delivers after one reschedule goes to the origin
            n.stalledOnce = false;
            n.originCredits = policy.concurrentPieces() - n.slotsUsed;
            tryFill(n);
        } else {
            reschedule(n);
        }
    }

    /**
     * When a waiting download gives up on its parents: {@link #STALL} after the last announcement any of them made
     * (ParentSet.fetch's deadline), and not within {@link #STALL} of the last reschedule.
     */
    private static double stallAt(SimNode n) {
        return Math.max(n.lastAnnouncement, n.rescheduledAt) + STALL;
    }

    private void reschedule(SimNode n) {
        if (n.reschedulePending || n.state != SimNode.State.DOWNLOADING) {
            return;
        }
        n.reschedulePending = true;
        n.reschedules++;
        List<String> unusable = new ArrayList<>();
        for (ParentLink l : n.parents) {
            if (!l.usable()) {
                unusable.add(l.node.peerId);
            }
        }
        events.at(events.now() + n.latency, () -> {
            if (n.state != SimNode.State.DOWNLOADING) {
                return;
            }
            SchedulerPort.Decision d = decide(() -> scheduler.reschedule(n.peerId, unusable));
            events.at(events.now() + n.latency, () -> rescheduled(n, d));
        });
    }

    private void rescheduled(SimNode n, SchedulerPort.Decision d) {
        n.reschedulePending = false;
        n.rescheduledAt = events.now();
        n.stalledOnce = true;
        if (n.state != SimNode.State.DOWNLOADING) {
            return;
        }
        if (d instanceof SchedulerPort.Decision.Parents p) {
            addParents(n, p.peerIds());
        } else if (!n.hasUsableParent()) {
            n.originMode = true;
        } else if (policy.stalledPiecesToOrigin()) {
            n.originCredits = policy.concurrentPieces() - n.slotsUsed;
        }
        tryFill(n);
    }

    private void request(SimNode child, int piece, ParentLink link) {
        SimNode src = link == null ? origin : link.node;
        double now = events.now();
        Flow f = new Flow(src, child, link, piece, config.pieceLength(piece), now);
        child.taken.set(piece);
        child.slotsUsed++;
        child.outstanding.add(f);
        if (link != null) {
            link.busy++;
        }
        events.at(now + 2 * (child.latency + src.latency), () -> arrived(f));
        if (link != null && policy.slowParentTimeouts()) {
            events.at(now + slowLimit(child, link, piece), () -> slowCheck(f));
        }
    }

    /** ParentSet.slowLimitNanos: the full piece timeout unless another usable parent holds the piece. */
    private static double slowLimit(SimNode child, ParentLink link, int piece) {
        double median = child.medianPieceTime();
        boolean alternatives = false;
        for (ParentLink l : child.parents) {
            if (l != link && l.usable() && l.node.have.get(piece)) {
                alternatives = true;
                break;
            }
        }
        if (median == 0 || !alternatives) {
            return PIECE_TIMEOUT;
        }
        return Math.min(PIECE_TIMEOUT, Math.max(SLOW_FLOOR, SLOW_FACTOR * median));
    }

    private void slowCheck(Flow f) {
        if (f.state == Flow.State.DONE || f.state == Flow.State.CANCELLED) {
            return;
        }
        SimNode child = f.dst;
        cancel(f);
        f.link.slow = true;
        child.slowMarks++;
        message(() -> scheduler.pieceFailed(child.peerId, f.src.peerId, true));
        reschedule(child);
        tryFill(child);
    }

    // ---- transfers ----

    private void arrived(Flow f) {
        if (f.state != Flow.State.REQUESTED) {
            return;
        }
        if (f.src.state == SimNode.State.LEFT) {
            parentFailed(f);
        } else if (f.src.uploads() < f.src.uploadSlots) {
            activate(f);
        } else {
            f.state = Flow.State.QUEUED;
            f.src.uploadQueue.add(f);
        }
    }

    private void activate(Flow f) {
        SimNode src = f.src;
        f.state = Flow.State.ACTIVE;
        f.lastUpdate = events.now();
        f.dst.downFlows.add(f);
        if (src.shared) {
            advanceLink(src);
            f.target = src.service + f.size;
            src.sharedFlows.add(f);
        } else {
            src.upFlows.add(f);
            if (src.upFlows.size() > sharedThreshold(src)) {
                toShared(src);
            }
        }
        reshare(src, f.dst);
    }

    /**
     * Above this many uploads every transfer on the link is limited by the link itself: its share up / n is below
     * any receiver's downlink share (a receiver runs at most {@code concurrentPieces} downloads). Such a link (the
     * origin under hundreds of requests) is run as one shared rate with a heap of finish levels, so a change costs
     * O(log n) instead of touching every transfer; the rates are exactly those of the per-transfer rule.
     */
    private double sharedThreshold(SimNode n) {
        return Math.ceil(policy.concurrentPieces() * n.up / minDown);
    }

    private void toShared(SimNode n) {
        double now = events.now();
        n.service = 0;
        n.serviceAt = now;
        if (n.sharedFlows == null) {
            n.sharedFlows = new java.util.PriorityQueue<>(java.util.Comparator.comparingDouble((Flow f) -> f.target));
        }
        for (Flow f : n.upFlows) {
            f.advance(now);
            f.target = Math.max(0, f.remaining);
            n.sharedFlows.add(f);
        }
        n.upFlows.clear();
        n.shared = true;
    }

    private void toPerFlow(SimNode n) {
        advanceLink(n);
        for (Flow f : n.sharedFlows) {
            f.remaining = f.target - n.service;
            f.lastUpdate = events.now();
            n.upFlows.add(f);
        }
        n.sharedFlows.clear();
        n.shared = false;
    }

    /** Moves a shared link's service level to now at its current rate; call before its number of uploads changes. */
    private void advanceLink(SimNode n) {
        double now = events.now();
        if (n.shared && !n.sharedFlows.isEmpty()) {
            n.service += n.up / n.sharedFlows.size() * (now - n.serviceAt);
        }
        n.serviceAt = now;
    }

    /**
     * New equal shares on both links of a transfer that started or ended, and the finish times they give. Each uplink
     * keeps one pending event, for its earliest finishing transfer, so a change costs a few heap entries however many
     * transfers share the link.
     */
    private void reshare(SimNode src, SimNode dst) {
        if (!src.shared) {
            for (Flow f : src.upFlows) {
                update(f);
            }
        }
        arm(src);
        for (Flow f : dst.downFlows) {
            if (f.src != src && !f.src.shared) {
                update(f);
                arm(f.src);
            }
        }
    }

    private void update(Flow f) {
        double now = events.now();
        f.advance(now);
        f.rate = Math.min(f.src.up / f.src.upFlows.size(), f.dst.down / f.dst.downFlows.size());
        f.finishAt = now + Math.max(0, f.remaining) / f.rate;
    }

    private void arm(SimNode n) {
        double first = Double.POSITIVE_INFINITY;
        if (n.shared) {
            advanceLink(n);
            Flow head = n.sharedFlows.peek();
            if (head != null) {
                first = events.now() + Math.max(0, head.target - n.service) / (n.up / n.sharedFlows.size());
            }
        } else {
            for (Flow f : n.upFlows) {
                first = Math.min(first, f.finishAt);
            }
        }
        if (first != n.uploadEventAt) {
            n.uploadEventAt = first;
            if (first != Double.POSITIVE_INFINITY) {
                double at = first;
                events.at(at, () -> uplinkEvent(n, at));
            }
        }
    }

    /** The earliest transfer on {@code n}'s uplink ends (others ending at the same time follow as their own events). */
    private void uplinkEvent(SimNode n, double at) {
        if (n.uploadEventAt != at) {
            return;
        }
        n.uploadEventAt = Double.POSITIVE_INFINITY;
        Flow first = null;
        if (n.shared) {
            advanceLink(n);
            first = n.sharedFlows.peek();
        } else {
            for (Flow f : n.upFlows) {
                if (first == null || f.finishAt < first.finishAt) {
                    first = f;
                }
            }
            if (first != null) {
                first.advance(events.now());
            }
        }
        if (first != null) {
            complete(first);
        }
        arm(n);
    }

    /** Stops a request wherever it is; the bytes it moved count as sent. */
    private void cancel(Flow f) {
        switch (f.state) {
            case QUEUED -> f.src.uploadQueue.remove(f);
            case ACTIVE -> {
                if (f.src.shared) {
                    advanceLink(f.src);
                    f.remaining = f.target - f.src.service;
                } else {
                    f.advance(events.now());
                }
                sent(f.src, f.dst, f.size - Math.max(0, f.remaining));
                detach(f);
            }
            default -> {
            }
        }
        f.state = Flow.State.CANCELLED;
        release(f);
        f.dst.taken.clear(f.piece);
    }

    private void detach(Flow f) {
        SimNode src = f.src;
        if (src.shared) {
            advanceLink(src);
            if (src.sharedFlows.peek() == f) {
                src.sharedFlows.poll();
            } else {
                src.sharedFlows.remove(f);
            }
            if (src.sharedFlows.size() <= sharedThreshold(src)) {
                toPerFlow(src);
            }
        } else {
            src.upFlows.remove(f);
        }
        f.dst.downFlows.remove(f);
        reshare(src, f.dst);
        while (src.state != SimNode.State.LEFT && src.uploads() < src.uploadSlots && !src.uploadQueue.isEmpty()) {
            activate(src.uploadQueue.poll());
        }
    }

    private void release(Flow f) {
        f.dst.slotsUsed--;
        f.dst.outstanding.remove(f);
        if (f.link != null) {
            f.link.busy--;
        }
    }

    private void sent(SimNode src, SimNode dst, double bytes) {
        src.uploadedBytes += bytes;
        if (src == origin) {
            dst.fromOriginBytes += bytes;
        }
    }

    private void complete(Flow f) {
        f.state = Flow.State.DONE;
        sent(f.src, f.dst, f.size);
        detach(f);
        release(f);
        pieceArrived(f);
    }

    private void parentFailed(Flow f) {
        SimNode child = f.dst;
        f.state = Flow.State.CANCELLED;
        release(f);
        child.taken.clear(f.piece);
        f.link.failed = true;
        child.parentFailures++;
        message(() -> scheduler.pieceFailed(child.peerId, f.src.peerId, false));
        tryFill(child);
    }

    private void pieceArrived(Flow f) {
        SimNode n = f.dst;
        double now = events.now();
        n.have.set(f.piece);
        n.haveCount++;
        n.recordPieceTime(now - f.requestedAt);
        boolean fromOrigin = f.src == origin;
        if (!fromOrigin) {
            n.stalledOnce = false;
        }
        Piece.Builder piece = Piece.newBuilder().setNumber(f.piece).setOffset((long) f.piece * config.pieceBytes())
                .setLength((long) f.size).setTrafficType(fromOrigin ? TrafficType.BACK_TO_SOURCE : TrafficType.REMOTE_PEER)
                .setCost(cost(now - f.requestedAt));
        if (!fromOrigin) {
            piece.setParentId(f.src.peerId);
        }
        message(() -> scheduler.pieceFinished(n.peerId, piece.build(), fromOrigin));
        for (SimNode c : n.followers) {
            if (c.state == SimNode.State.DOWNLOADING) {
                c.lastAnnouncement = now;
                if (c.slotsUsed < policy.concurrentPieces()) {
                    tryFill(c);
                }
            }
        }
        if (n.haveCount == pieceCount) {
            n.state = SimNode.State.DONE;
            n.finishAt = now;
            message(() -> scheduler.finished(n.peerId, n.originMode));
            if (n.kind == SimNode.Kind.AGENT) {
                unfinished--;
            }
        } else if (n.leaveAfterPieces > 0 && n.haveCount >= n.leaveAfterPieces) {
            leave(n);
        } else {
            tryFill(n);
        }
    }

    private static com.google.protobuf.Duration cost(double seconds) {
        long nanos = Math.round(seconds * 1e9);
        return com.google.protobuf.Duration.newBuilder().setSeconds(nanos / 1_000_000_000L).setNanos((int) (nanos % 1_000_000_000L)).build();
    }

    /** The agent dies: its transfers stop, its children's streams from it break, the scheduler sees its stream end. */
    private void leave(SimNode n) {
        n.state = SimNode.State.LEFT;
        unfinished--;
        for (Flow f : List.copyOf(n.outstanding)) {
            cancel(f);
        }
        for (SimNode c : n.followers) {
            ParentLink l = c.link(n);
            if (l != null) {
                l.gone = true;
            }
        }
        List<Flow> serving = new ArrayList<>(n.upFlows);
        if (n.shared) {
            serving.addAll(n.sharedFlows);
        }
        serving.addAll(n.uploadQueue);
        for (Flow f : serving) {
            cancel(f);
            f.dst.taken.clear(f.piece);
            f.link.failed = true;
            f.dst.parentFailures++;
            message(() -> scheduler.pieceFailed(f.dst.peerId, n.peerId, false));
        }
        message(() -> scheduler.left(n.peerId));
        for (Flow f : serving) {
            tryFill(f.dst);
        }
        for (SimNode c : n.followers) {
            tryFill(c);
        }
    }
}
