package dev.pollen.simulator;

import dev.pollen.policy.Endgame;
import dev.pollen.policy.ParentLoad;
import dev.pollen.policy.ParentRefresh;
import dev.pollen.policy.PieceSelector;
import dev.pollen.policy.SuperSeeding;
import dev.pollen.policy.UploadSlots;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Network;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.proto.common.v2.TrafficType;
import dev.pollen.scheduler.SchedulingCore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * A flow-level, discrete-event simulation of one task's swarm in virtual time.
 *
 * <p>Model. Every piece request waits one round trip (2 × both ends' one-way latency), then asks its parent's
 * {@link UploadSlots} for a slot: granted, it becomes a transfer; in line, it waits up to upload.slotWait and is then
 * answered busy, as is a request the line has no room for (or one a request for a piece sent fewer times turns out of
 * a full line). A transfer's rate is the smaller of its uplink's and its
 * downlink's equal share: {@code min(up(src) / uploads(src), down(dst) / downloads(dst))}, recomputed for every
 * transfer on both links whenever one starts or ends (slack a transfer limited elsewhere leaves on a link is not
 * redistributed, so a mix of bottlenecks is slightly pessimistic). No TCP dynamics, no disk, no CPU. Control messages
 * to the scheduler take the agent's one-way latency each way; piece reports reach it at once; a parent announces a
 * piece to its children as it lands (a super-seeding seed when its {@link SuperSeeding} says so).
 *
 * <p>Every decision is made by production code: the scheduler's ({@link SchedulerPort}, over SchedulingCore, with the
 * simulation's virtual clock) and the agent's (module {@code policy}): which piece next ({@link PieceSelector}), which
 * parent and how many requests at once ({@link ParentLoad}: windows, busy back-off, the slow limit), the upload slots,
 * super-seeding on the seed, the endgame ({@link Endgame}) and when to ask for more parents ({@link ParentRefresh}).
 * What this class adds is the agent's control flow around them (ParentSet, PeerDownload, ActiveTask), in events.
 */
public final class Simulation {
    static final String TASK_ID = "5f1e0c8d3b2a4e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f";
    static final String URL = "http://origin.sim/file";
    static final int CONCURRENT = AgentDefaults.CONCURRENT_PIECES;
    private static final double STALL = seconds(ParentRefresh.STALL);
    private static final double REFRESH = seconds(ParentRefresh.INTERVAL);
    private static final double STARVED = seconds(ParentRefresh.STARVED);
    private static final double PIECE_TIMEOUT = seconds(AgentDefaults.PIECE_TIMEOUT);
    private static final double SLOT_WAIT = seconds(AgentDefaults.SLOT_WAIT);
    private static final long SLOW_FLOOR_NANOS = ParentLoad.SLOW_FLOOR.toNanos();
    private static final long BUSY_BACKOFF_NANOS = ParentLoad.BUSY_BACKOFF.toNanos();
    /** Nothing simulated runs longer: a stuck swarm ends with its stuck nodes counted. */
    static final double HORIZON = 24 * 3600.0;

    /** Why a download asks the scheduler again (PeerDownload's reasons). */
    private enum Ask { STALL, REPLACE, REFRESH, STARVED }

    private final SimConfig config;
    private final int pieceCount;
    private final VirtualClock clock = new VirtualClock();
    private final EventQueue events = new EventQueue();
    private SchedulerPort scheduler;
    private final Random random;
    private final PieceSelector selector;
    private final List<SimNode> nodes = new ArrayList<>();
    private final Map<String, SimNode> byPeer = new HashMap<>();
    private final Map<String, SimNode> byHost = new HashMap<>();
    private final SimNode origin;
    private SimNode seed;
    private int unfinished;
    /** The narrowest downlink of any receiver: what {@link #sharedThreshold} compares uplink shares with. */
    private double minDown = Units.UNLIMITED;
    private final BitSet candidates = new BitSet();
    private final List<PieceSelector.Holder> holders = new ArrayList<>();
    private long decisions;
    private long decisionNanos;
    private long messages;
    private long messageNanos;

    public Simulation(SimConfig config) {
        this(config, c -> new CoreScheduler(c, config.scheduling(), new Random(config.seed())));
    }

    Simulation(SimConfig config, Function<java.time.Clock, SchedulerPort> schedulerFactory) {
        this.config = config;
        this.pieceCount = config.pieceCount();
        this.random = new Random(config.seed());
        this.selector = new PieceSelector(random);
        this.scheduler = schedulerFactory.apply(clock);
        origin = add(SimNode.Kind.ORIGIN, "origin", config.originUp(), Units.UNLIMITED, 0.0, null);
        if (config.seedPeer()) {
            SuperSeeding superSeeding = config.superSeeding() > 0
                    ? new SuperSeeding(Duration.ofNanos(Math.round(config.superSeeding() * 1e9)), this::nanos) : null;
            seed = add(SimNode.Kind.SEED, "seed", config.seedUp(), Units.UNLIMITED, latency(), superSeeding);
        }
        int slow = (int) Math.round(config.slowShare() * config.agents());
        for (int i = 0; i < config.agents(); i++) {
            double factor = i < slow ? config.slowFactor() : 1.0;
            add(SimNode.Kind.AGENT, "agent-" + i, config.agentUp() / factor, config.agentDown() / factor, latency(), null);
        }
        for (SimNode n : nodes) {
            if (n.kind != SimNode.Kind.ORIGIN) {
                minDown = Math.min(minDown, n.down);
            }
        }
        planAgents();
    }

    private static double seconds(Duration d) {
        return d.toNanos() / 1e9;
    }

    /** The virtual clock as System.nanoTime, for the agent's policy classes. */
    private long nanos() {
        return Math.round(events.now() * 1e9);
    }

    private double latency() {
        return config.latencyMin() + random.nextDouble() * (config.latencyMax() - config.latencyMin());
    }

    private SimNode add(SimNode.Kind kind, String name, double up, double down, double latency, SuperSeeding superSeeding) {
        // The agent's slots from its announced uplink (bench/swarm.sh passes --upload.bandwidth); the origin has none.
        UploadSlots slots = new UploadSlots(kind == SimNode.Kind.ORIGIN ? 0 : UploadSlots.forCapacity(bits(up)));
        SimNode n = new SimNode(nodes.size(), kind, "host-" + name, "peer-" + name, up, down, latency, slots, superSeeding);
        nodes.add(n);
        byPeer.put(n.peerId, n);
        byHost.put(n.hostId, n);
        return n;
    }

    private static long bits(double bytesPerSecond) {
        return (long) Math.min(bytesPerSecond * 8, Long.MAX_VALUE);
    }

    /** Who starts when and who leaves: drawn once, in node order, from the seed. */
    private void planAgents() {
        List<SimNode> agents = agents();
        int late = (int) Math.round(config.lateJoin() * agents.size());
        int churn = (int) Math.round(config.churn() * agents.size());
        List<SimNode> shuffled = new ArrayList<>(agents);
        Collections.shuffle(shuffled, random);
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
        return SimResult.of(config, nodes, events.now(), events.processed(), System.nanoTime() - wallStart,
                decisions, decisionNanos, messages, messageNanos);
    }

    private Host host(SimNode n) {
        // max_tx/rx_bandwidth in bits per second, as the agent's host announcement gives them
        Network network = Network.newBuilder().setMaxTxBandwidth(bits(n.up)).setMaxRxBandwidth(bits(n.down))
                .setIdc("").setLocation("").build();
        return Host.newBuilder().setId(n.hostId).setType(n.kind == SimNode.Kind.SEED ? 1 : 0).setHostname(n.hostId)
                .setIp("10." + (n.index >> 16 & 255) + "." + (n.index >> 8 & 255) + "." + (n.index & 255))
                .setPort(4000).setDownloadPort(4005).setNetwork(network).build();
    }

    // ---- the scheduler, timed ----

    private SchedulerPort.Decision decide(Supplier<SchedulerPort.Decision> call) {
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

    // ---- registration and rescheduling ----

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
                .setConcurrentPieceCount(CONCURRENT).build();
        events.at(events.now() + n.latency, () -> {
            SchedulerPort.Decision d = decide(() -> scheduler.register(n.hostId, TASK_ID, n.peerId, download));
            atScheduler(n, d, answer -> answered(n, answer));
        });
    }

    /**
     * A decision taken at the scheduler: a held peer is polled there (the service does so every 100 ms, for a
     * registration or a reschedule alike); any other answer travels back to the agent.
     */
    private void atScheduler(SimNode n, SchedulerPort.Decision d, Consumer<SchedulerPort.Decision> then) {
        if (d instanceof SchedulerPort.Decision.Held held) {
            if (n.state == SimNode.State.REGISTERING) {
                n.state = SimNode.State.HELD;
            }
            if (held.triggerHostId() != null) {
                SimNode s = byHost.get(held.triggerHostId());
                // DfdaemonUpload.DownloadTask reaches the seed, which registers like any agent
                events.at(events.now() + s.latency, () -> launch(s));
            }
            events.at(events.now() + SchedulingCore.HELD_POLL.toNanos() / 1e9, () -> poll(n, then));
            return;
        }
        events.at(events.now() + n.latency, () -> then.accept(d));
    }

    private void poll(SimNode n, Consumer<SchedulerPort.Decision> then) {
        if (n.state == SimNode.State.LEFT || n.state == SimNode.State.DONE) {
            return;
        }
        SchedulerPort.Decision d = decide(() -> scheduler.pollHeld(TASK_ID, n.peerId));
        if (d == null) {
            events.at(events.now() + SchedulingCore.HELD_POLL.toNanos() / 1e9, () -> poll(n, then));
        } else {
            atScheduler(n, d, then);
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
            events.at(events.now() + REFRESH, () -> refresh(n));
        } else {
            n.originMode = true;
            message(() -> scheduler.started(n.peerId, true));
        }
        tryFill(n);
    }

    /**
     * PeerDownload.refreshParents: every interval, more parents while fewer than enough are usable or while they
     * answer busy often; stops when none come.
     */
    private void refresh(SimNode n) {
        if (n.state != SimNode.State.DOWNLOADING || n.originMode || n.refreshStopped) {
            return;
        }
        boolean crowded = ParentRefresh.crowded(n.busyAnswers - n.busyAtRefresh, ParentRefresh.INTERVAL.toNanos());
        n.busyAtRefresh = n.busyAnswers;
        if (ParentRefresh.wantsMore(n.usableParents()) || crowded) {
            n.refreshes++;
            reschedule(n, Ask.REFRESH);
        }
        events.at(events.now() + REFRESH, () -> refresh(n));
    }

    /** ParentSet.add: follows each new parent (a seed's stream announces on super-seeding's schedule). */
    private void addParents(SimNode n, List<String> peerIds) {
        for (String id : peerIds) {
            SimNode p = byPeer.get(id);
            if (p == null || n.link(p) != null) {
                continue;
            }
            ParentLink l = new ParentLink(n, p);
            l.gone = p.state == SimNode.State.LEFT;
            n.parents.add(l);
            p.followers.add(l);
            if (p.superSeeding != null && !l.gone) {
                l.announced = new BitSet();
                p.superSeeding.join(TASK_ID, l);
                for (int piece = p.have.nextSetBit(0); piece >= 0; piece = p.have.nextSetBit(piece + 1)) {
                    offer(p, l, piece, false);
                }
            }
        }
    }

    private void reschedule(SimNode n, Ask why) {
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
                n.reschedulePending = false;
                return;
            }
            SchedulerPort.Decision d = decide(() -> scheduler.reschedule(n.peerId, unusable));
            atScheduler(n, d, answer -> rescheduled(n, answer, why));
        });
    }

    /** PeerDownload.reschedule's answer: new parents beside the old; nobody, with none usable, is the origin. */
    private void rescheduled(SimNode n, SchedulerPort.Decision d, Ask why) {
        n.reschedulePending = false;
        if (n.state != SimNode.State.DOWNLOADING) {
            return;
        }
        if (why == Ask.STALL) {
            n.rescheduledAt = events.now();
            n.stalledOnce = true;
        }
        if (d instanceof SchedulerPort.Decision.Parents p && !p.peerIds().isEmpty()) {
            addParents(n, p.peerIds());
        } else {
            if (why == Ask.REFRESH) {
                n.refreshStopped = true;
            }
            if (n.usableParents() == 0) {
                n.originMode = true;
                message(() -> scheduler.started(n.peerId, true));
            } else if (why == Ask.STALL) {
                // PeerDownload.fetch: the pieces no parent delivered go to the origin
                n.originCredits = CONCURRENT - n.slotsUsed;
            }
        }
        tryFill(n);
    }

    // ---- super-seeding on the seed peer (PieceStream.offer) ----

    private void offer(SimNode parent, ParentLink l, int piece, boolean justLanded) {
        long delay = parent.superSeeding.delayNanos(TASK_ID, l, piece, justLanded);
        if (delay > 0) {
            events.at(events.now() + delay / 1e9, () -> offer(parent, l, piece, false));
            return;
        }
        if (!l.wants(piece) || l.gone) {
            return;
        }
        l.announced.set(piece);
        if (l.announced.cardinality() == pieceCount) {
            // every piece announced: the stream ends
            parent.superSeeding.leave(TASK_ID, l);
        }
        announced(l.child, piece);
    }

    /** A parent of {@code child} announced {@code piece}. */
    private void announced(SimNode child, int piece) {
        if (child.state == SimNode.State.DOWNLOADING) {
            child.lastAnnouncement = events.now();
            if (child.slotsUsed < CONCURRENT && !child.taken.get(piece)) {
                tryFill(child);
            }
        }
    }

    private void leaveStreams(SimNode n) {
        for (ParentLink l : n.parents) {
            if (l.node.superSeeding != null && l.announced != null) {
                l.node.superSeeding.leave(TASK_ID, l);
            }
        }
    }

    // ---- the agent's download loop (ActiveTask, ParentSet) ----

    private void tryFill(SimNode n) {
        if (n.state != SimNode.State.DOWNLOADING) {
            return;
        }
        long now = nanos();
        boolean nothingAnnounced = false;
        while (n.slotsUsed < CONCURRENT) {
            if (n.originMode) {
                int p = n.taken.nextClearBit(0);
                if (p >= pieceCount) {
                    break;
                }
                request(n, p, null, true);
                continue;
            }
            int piece = choose(n, now);
            ParentLink parent = piece < 0 ? null : pick(n, piece, now, null);
            if (parent != null) {
                n.starvedSince = Double.NaN;
                request(n, piece, parent, true);
            } else if (n.originCredits > 0 && n.wantsMore(pieceCount)) {
                n.originCredits--;
                request(n, n.taken.nextClearBit(0), null, true);
            } else {
                if (piece >= 0) {
                    wakeAfterBackoff(n, now);
                } else {
                    nothingAnnounced = true;
                }
                break;
            }
        }
        endgame(n, now);
        if (n.originMode || n.slotsUsed >= CONCURRENT || !n.wantsMore(pieceCount)) {
            return;
        }
        if (n.usableParents() == 0) {
            reschedule(n, Ask.REPLACE);
        } else if (nothingAnnounced) {
            if (Double.isNaN(n.starvedSince)) {
                double since = events.now();
                n.starvedSince = since;
                events.at(since + STARVED, () -> starvedCheck(n, since));
            }
            if (!n.waitCheckPending) {
                n.waitCheckPending = true;
                events.at(Math.max(events.now(), stallAt(n)), () -> waitCheck(n));
            }
        }
    }

    /** PeerDownload's refresh: parents that announced nothing the child lacks for {@link #STARVED} make it ask for more. */
    private void starvedCheck(SimNode n, double since) {
        if (n.starvedSince != since) {
            return;
        }
        n.starvedSince = Double.NaN;
        if (n.state == SimNode.State.DOWNLOADING && !n.originMode && n.slotsUsed < CONCURRENT && n.wantsMore(pieceCount)) {
            n.starvedAsks++;
            reschedule(n, Ask.STARVED);
        }
    }

    /** ParentSet.choosePiece over what the child's usable parents announced: {@link PieceSelector}, as the agent asks it. */
    private int choose(SimNode n, long now) {
        holders.clear();
        for (ParentLink l : n.parents) {
            if (l.usable()) {
                holders.add(new PieceSelector.Holder(l.held(), l.load.hasRoom(now)));
            }
        }
        if (holders.isEmpty()) {
            return -1;
        }
        candidates.clear();
        candidates.set(0, pieceCount);
        candidates.andNot(n.taken);
        // The selector's answer when no holder has a candidate, without its scan (the scan draws nothing random then)
        for (PieceSelector.Holder h : holders) {
            if (h.pieces().intersects(candidates)) {
                return selector.select(candidates, holders, n.received);
            }
        }
        return -1;
    }

    /** ParentSet.pick: the holder of the piece with room that {@link ParentLoad#beats} the others; null if none has room. */
    private static ParentLink pick(SimNode n, int piece, long now, ParentLink except) {
        ParentLink best = null;
        for (ParentLink l : n.parents) {
            if (l == except || !l.usable() || !l.held().get(piece) || !l.load.hasRoom(now)) {
                continue;
            }
            if (best == null || l.load.beats(l.node.kind == SimNode.Kind.SEED, best.load, best.node.kind == SimNode.Kind.SEED)) {
                best = l;
            }
        }
        return best;
    }

    /** Every holder of the chosen piece is full or backing off: try again when the first back-off ends. */
    private void wakeAfterBackoff(SimNode n, long now) {
        long soonest = Long.MAX_VALUE;
        for (ParentLink l : n.parents) {
            if (l.usable() && l.load.backingOff(now)) {
                soonest = Math.min(soonest, l.load.backoffUntil());
            }
        }
        if (soonest == Long.MAX_VALUE) {
            return;
        }
        double at = soonest / 1e9;
        if (at < n.wakeAt) {
            n.wakeAt = at;
            events.at(at, () -> {
                if (n.wakeAt == at) {
                    n.wakeAt = Double.POSITIVE_INFINITY;
                    tryFill(n);
                }
            });
        }
    }

    /**
     * ParentSet.endgame: once every missing piece is being fetched from parents here and they are few, each gets a
     * second request to another holder with room; the first to arrive wins.
     */
    private void endgame(SimNode n, long now) {
        if (n.originMode) {
            return;
        }
        int fetching = 0;
        for (Flow f : n.outstanding) {
            if (f.holdsSlot && f.link != null) {
                fetching++;
            }
        }
        if (!Endgame.on(fetching, pieceCount - n.haveCount)) {
            return;
        }
        for (Flow f : List.copyOf(n.outstanding)) {
            if (!f.holdsSlot || f.link == null || f.raced || !f.live()) {
                continue;
            }
            ParentLink other = pick(n, f.piece, now, f.link);
            if (other != null) {
                f.raced = true;
                Flow second = request(n, f.piece, other, false);
                second.raced = true;
                f.twin = second;
                second.twin = f;
                n.endgameRequests++;
            }
        }
    }

    /** A download waiting for pieces its parents do not announce: after {@link #STALL} of silence, reschedule. */
    private void waitCheck(SimNode n) {
        n.waitCheckPending = false;
        if (n.state != SimNode.State.DOWNLOADING || n.originMode || n.slotsUsed >= CONCURRENT || !n.wantsMore(pieceCount)) {
            return;
        }
        if (events.now() + 1e-9 < stallAt(n)) {
            n.waitCheckPending = true;
            events.at(stallAt(n), () -> waitCheck(n));
        } else if (n.stalledOnce) {
            // PeerDownload.fetch: a piece that no parent delivers after one reschedule goes to the origin
            n.stalledOnce = false;
            n.originCredits = CONCURRENT - n.slotsUsed;
            tryFill(n);
        } else {
            reschedule(n, Ask.STALL);
        }
    }

    /**
     * When a waiting download gives up on its parents: {@link #STALL} after the last announcement any of them made
     * (ParentSet.fetch's deadline), and not within {@link #STALL} of the last reschedule for a stall.
     */
    private static double stallAt(SimNode n) {
        return Math.max(n.lastAnnouncement, n.rescheduledAt) + STALL;
    }

    // ---- requests ----

    private Flow request(SimNode child, int piece, ParentLink link, boolean holdsSlot) {
        SimNode src = link == null ? origin : link.node;
        double now = events.now();
        Flow f = new Flow(src, child, link, piece, config.pieceLength(piece), now);
        // Ranked by the piece, as the agent's Vortex server asks: turned out of a full line, the request hears busy.
        f.slot = new UploadSlots.Request(child, TASK_ID, piece, () -> activate(f), () -> {
            if (f.state == Flow.State.QUEUED) {
                src.waiting.remove(f);
                busy(f);
            }
        });
        f.holdsSlot = holdsSlot;
        if (holdsSlot) {
            child.taken.set(piece);
            child.slotsUsed++;
        }
        child.outstanding.add(f);
        if (link != null) {
            link.load.started(nanos());
            armSlowCheck(child, now + slowLimit(f));
        }
        events.at(now + 2 * (child.latency + src.latency), () -> arrived(f));
        return f;
    }

    /** ParentSet.deadline: the parent's slow limit ({@link ParentLoad#slowLimitNanos}), as it stands now. */
    private double slowLimit(Flow f) {
        boolean alternatives = false;
        for (ParentLink l : f.dst.parents) {
            if (l != f.link && l.usable() && l.held().get(f.piece)) {
                alternatives = true;
                break;
            }
        }
        return f.link.load.slowLimitNanos((long) f.size, alternatives, Math.round(PIECE_TIMEOUT * 1e9), SLOW_FLOOR_NANOS) / 1e9;
    }

    /** The request reached its parent: a slot, a place in line, or busy at once (VortexServerHandler). */
    private void arrived(Flow f) {
        if (f.state != Flow.State.REQUESTED) {
            return;
        }
        SimNode src = f.src;
        if (src.state == SimNode.State.LEFT) {
            parentFailed(f);
            return;
        }
        switch (src.slots.acquire(f.slot)) {
            case GRANTED -> {
                // activate ran
            }
            case WAITING -> {
                f.state = Flow.State.QUEUED;
                src.waiting.add(f);
                events.at(events.now() + SLOT_WAIT, () -> {
                    if (f.state == Flow.State.QUEUED && src.slots.withdraw(f.slot)) {
                        src.waiting.remove(f);
                        busy(f);
                    }
                });
            }
            case FULL -> busy(f);
        }
    }

    /** A parent answered busy (Vortex error code 4): not its fault; the child asks it less, and not for a moment. */
    private void busy(Flow f) {
        f.state = Flow.State.CANCELLED;
        SimNode child = f.dst;
        child.busyAnswers++;
        if (settle(f)) {
            f.link.load.busy(nanos(), BUSY_BACKOFF_NANOS);
        }
        tryFill(child);
    }

    /**
     * One pending slow-limit check per child, at its earliest request's deadline (a check per request would keep
     * every request of the last piece timeout in the event queue).
     */
    private void armSlowCheck(SimNode child, double at) {
        if (at < child.slowCheckAt) {
            child.slowCheckAt = at;
            events.at(at, () -> slowChecks(child, at));
        }
    }

    private void slowChecks(SimNode child, double at) {
        if (child.slowCheckAt != at) {
            return;
        }
        child.slowCheckAt = Double.POSITIVE_INFINITY;
        double next = Double.POSITIVE_INFINITY;
        boolean gaveUp = false;
        for (Flow f : List.copyOf(child.outstanding)) {
            if (f.link == null || !f.live()) {
                continue;
            }
            double deadline = f.requestedAt + slowLimit(f);
            if (events.now() + 1e-9 < deadline) {
                next = Math.min(next, deadline);
            } else if (child.state == SimNode.State.DOWNLOADING) {
                tooSlow(f);
                gaveUp = true;
            }
        }
        if (next != Double.POSITIVE_INFINITY) {
            armSlowCheck(child, next);
        }
        if (gaveUp) {
            tryFill(child);
        }
    }

    /** The request took longer than its parent's slow limit (ParentSet.settle's timeout cases). */
    private void tooSlow(Flow f) {
        SimNode child = f.dst;
        stopAtParent(f);
        boolean timedOut = events.now() - f.requestedAt >= PIECE_TIMEOUT - 1e-9;
        if (settle(f)) {
            if (timedOut) {
                // the full piece timeout: the parent failed the fetch
                f.link.load.ended(nanos());
                f.link.failed = true;
                child.parentFailures++;
                message(() -> scheduler.pieceFailed(child.peerId, f.src.peerId, false));
            } else {
                f.link.load.slow(nanos());
                f.link.slow = true;
                child.slowMarks++;
                message(() -> scheduler.pieceFailed(child.peerId, f.src.peerId, true));
                reschedule(child, Ask.REPLACE);
            }
        }
    }

    /** The parent is gone (it left): the fetch fails and the parent is not used again. */
    private void parentFailed(Flow f) {
        SimNode child = f.dst;
        f.state = Flow.State.CANCELLED;
        if (settle(f)) {
            f.link.load.ended(nanos());
            f.link.failed = true;
            child.parentFailures++;
            message(() -> scheduler.pieceFailed(child.peerId, f.src.peerId, false));
        }
        tryFill(child);
    }

    /**
     * The child is done with a request that brought no piece: its download slot passes to the racing request if one
     * runs, else frees, and the piece may be asked again. False when it was settled before (nothing to book).
     */
    private boolean settle(Flow f) {
        if (f.settled) {
            return false;
        }
        f.settled = true;
        SimNode n = f.dst;
        n.outstanding.remove(f);
        Flow twin = f.twin;
        f.twin = null;
        if (twin != null) {
            twin.twin = null;
        }
        if (f.holdsSlot) {
            f.holdsSlot = false;
            if (twin != null && twin.live()) {
                twin.holdsSlot = true;
            } else {
                n.slotsUsed--;
                n.taken.clear(f.piece);
            }
        }
        return true;
    }

    /** This side stops a request (it lost the endgame race): nobody's fault. */
    private void withdrawRequest(Flow f) {
        stopAtParent(f);
        if (settle(f) && f.link != null) {
            f.link.load.ended(nanos());
        }
    }

    // ---- transfers ----

    /** An upload slot took the request (at once, or handed over by a transfer that ended): its bytes flow. */
    private void activate(Flow f) {
        SimNode src = f.src;
        src.waiting.remove(f);
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
        return Math.ceil(CONCURRENT * n.up / minDown);
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

    /** Stops a request at its parent, wherever it is there; the bytes it moved count as sent. */
    private void stopAtParent(Flow f) {
        switch (f.state) {
            case QUEUED -> {
                f.src.slots.withdraw(f.slot);
                f.src.waiting.remove(f);
            }
            case ACTIVE -> {
                if (f.src.shared) {
                    advanceLink(f.src);
                    f.remaining = f.target - f.src.service;
                } else {
                    f.advance(events.now());
                }
                double moved = f.size - Math.max(0, f.remaining);
                sent(f.src, f.dst, moved);
                f.dst.discardedBytes += moved;
                detach(f);
            }
            default -> {
            }
        }
        f.state = Flow.State.CANCELLED;
    }

    /** Takes an active transfer off both links; its upload slot goes to the fairest request in line there. */
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
        src.slots.release(f.dst);
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
        if (f.src.superSeeding != null) {
            // TaskPieces: the Vortex server sent the piece whole to a child
            f.src.superSeeding.sent(TASK_ID, f.piece);
        }
        delivered(f);
    }

    /** The piece arrived: the racing request (if any) is withdrawn, the parent's window books the pace. */
    private void delivered(Flow f) {
        SimNode n = f.dst;
        Flow twin = f.twin;
        f.twin = null;
        if (twin != null) {
            twin.twin = null;
            boolean itsSlot = twin.holdsSlot;
            twin.holdsSlot = false;
            withdrawRequest(twin);
            f.holdsSlot |= itsSlot;
        }
        f.settled = true;
        n.outstanding.remove(f);
        if (f.holdsSlot) {
            f.holdsSlot = false;
            n.slotsUsed--;
        }
        double now = events.now();
        if (f.link != null) {
            f.link.load.succeeded((long) f.size, Math.round((now - f.requestedAt) * 1e9), nanos());
            n.received++;
            n.stalledOnce = false;
        }
        pieceArrived(f, now);
    }

    private void pieceArrived(Flow f, double now) {
        SimNode n = f.dst;
        n.have.set(f.piece);
        n.haveCount++;
        n.receivedBytes += f.size;
        boolean fromOrigin = f.src == origin;
        Piece.Builder piece = Piece.newBuilder().setNumber(f.piece).setOffset((long) f.piece * config.pieceBytes())
                .setLength((long) f.size).setTrafficType(fromOrigin ? TrafficType.BACK_TO_SOURCE : TrafficType.REMOTE_PEER)
                .setCost(cost(now - f.requestedAt));
        if (!fromOrigin) {
            piece.setParentId(f.src.peerId);
        }
        message(() -> scheduler.pieceFinished(n.peerId, piece.build(), fromOrigin));
        for (ParentLink l : List.copyOf(n.followers)) {
            if (l.announced != null) {
                offer(n, l, f.piece, true);
            } else {
                announced(l.child, f.piece);
            }
        }
        if (n.haveCount == pieceCount) {
            n.state = SimNode.State.DONE;
            n.finishAt = now;
            leaveStreams(n);
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
            stopAtParent(f);
            f.settled = true;
        }
        n.outstanding.clear();
        leaveStreams(n);
        for (ParentLink l : n.followers) {
            l.gone = true;
        }
        // the line first, so no request of it takes a slot the transfers free
        List<Flow> serving = new ArrayList<>(n.waiting);
        serving.addAll(n.upFlows);
        if (n.shared) {
            serving.addAll(n.sharedFlows);
        }
        List<SimNode> children = new ArrayList<>();
        for (Flow f : serving) {
            stopAtParent(f);
            if (settle(f)) {
                f.link.load.ended(nanos());
                f.link.failed = true;
                f.dst.parentFailures++;
                message(() -> scheduler.pieceFailed(f.dst.peerId, n.peerId, false));
            }
            children.add(f.dst);
        }
        message(() -> scheduler.left(n.peerId));
        for (SimNode c : children) {
            tryFill(c);
        }
        for (ParentLink l : n.followers) {
            tryFill(l.child);
        }
    }
}
