package dev.pollen.simulator;

import dev.pollen.policy.SuperSeeding;
import dev.pollen.policy.UploadSlots;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.PriorityQueue;
import java.util.Set;

/** A simulated host: the origin, the seed peer or an agent, with its links, pieces and its one download. */
final class SimNode {
    enum Kind { ORIGIN, SEED, AGENT }

    enum State { IDLE, REGISTERING, HELD, DOWNLOADING, DONE, LEFT }

    final int index;
    final Kind kind;
    final String hostId;
    final String peerId;
    final double up;
    final double down;
    /** One-way latency to the network core, seconds. */
    final double latency;
    /** The agent's upload slots (the origin's has no cap). */
    final UploadSlots slots;
    /** The seed peer's super-seeding; null on other nodes or when it is off. */
    final SuperSeeding superSeeding;

    State state = State.IDLE;
    /** When the download was asked for (dfget started): completion is measured from here. */
    double launchAt = Double.NaN;
    double finishAt = Double.NaN;
    /** Leaves (dies) once it holds this many pieces; 0 = stays. */
    int leaveAfterPieces;

    final BitSet have = new BitSet();
    /** Held or asked for: what the agent will not ask again. */
    final BitSet taken = new BitSet();
    int haveCount;
    /** Pieces that came from parents (PieceSelector's random-first count). */
    int received;
    /** Download slots in use (download.concurrentPieceCount). */
    int slotsUsed;
    /** Every piece from the origin (scheduler said so, or no parent is usable and it names none). */
    boolean originMode;
    /** Pieces the agent sends to the origin after a fruitless reschedule while it still has parents. */
    int originCredits;

    final List<ParentLink> parents = new ArrayList<>();
    /** The links of the children that follow this node's pieces (each child's link to it). */
    final List<ParentLink> followers = new ArrayList<>();
    /** Requests this node made (as a child), in any state. */
    final List<Flow> outstanding = new ArrayList<>();
    /** Transfers this node is sending now, unless its uplink is {@link #shared}. */
    final List<Flow> upFlows = new ArrayList<>();
    /** Requests waiting here for an upload slot, in arrival order. */
    final Set<Flow> waiting = new LinkedHashSet<>();
    /** Transfers this node is receiving now. */
    final List<Flow> downFlows = new ArrayList<>();
    /** Whether the uplink runs as one shared rate (many uploads): its transfers are then in {@link #sharedFlows}. */
    boolean shared;
    /** Bytes each transfer of a shared uplink has been sent since it turned shared, as of {@link #serviceAt}. */
    double service;
    double serviceAt;
    /** A shared uplink's transfers by the service level at which each is done. */
    PriorityQueue<Flow> sharedFlows;

    /** The pending event of this uplink: its earliest transfer's finish; infinite when none is pending. */
    double uploadEventAt = Double.POSITIVE_INFINITY;
    /** The pending slow-limit check of this download's requests; infinite when none is pending. */
    double slowCheckAt = Double.POSITIVE_INFINITY;
    /** The pending wake-up of this download (a parent's busy back-off ends); infinite when none is pending. */
    double wakeAt = Double.POSITIVE_INFINITY;
    double uploadedBytes;
    /** Whole pieces that arrived here. */
    double receivedBytes;
    /** Bytes of transfers to this node that were stopped before the piece was whole (lost races, failures, leaving). */
    double discardedBytes;
    double fromOriginBytes;
    double lastAnnouncement;
    boolean waitCheckPending;
    boolean reschedulePending;
    /** The agent's refresh ended: the scheduler named nobody when asked for more parents. */
    boolean refreshStopped;
    /** When the last reschedule was answered: a download does not ask again within the stall. */
    double rescheduledAt = Double.NEGATIVE_INFINITY;
    /** A reschedule was answered and no piece came from a parent since: the next stall sends waiting pieces to the origin. */
    boolean stalledOnce;
    /** Since when the child's usable parents announced nothing it lacks while it had room; NaN when they do. */
    double starvedSince = Double.NaN;
    int reschedules;
    int starvedAsks;
    int refreshes;
    int slowMarks;
    int busyAnswers;
    /** {@link #busyAnswers} at the last refresh: what {@link dev.pollen.policy.ParentRefresh#crowded} judges. */
    int busyAtRefresh;
    int endgameRequests;
    int parentFailures;

    SimNode(int index, Kind kind, String hostId, String peerId, double up, double down, double latency, UploadSlots slots,
            SuperSeeding superSeeding) {
        this.index = index;
        this.kind = kind;
        this.hostId = hostId;
        this.peerId = peerId;
        this.up = up;
        this.down = down;
        this.latency = latency;
        this.slots = slots;
        this.superSeeding = superSeeding;
    }

    /** Transfers this node is sending now. */
    int uploads() {
        return shared ? sharedFlows.size() : upFlows.size();
    }

    ParentLink link(SimNode parent) {
        for (ParentLink l : parents) {
            if (l.node == parent) {
                return l;
            }
        }
        return null;
    }

    int usableParents() {
        int n = 0;
        for (ParentLink l : parents) {
            if (l.usable()) {
                n++;
            }
        }
        return n;
    }

    boolean wantsMore(int pieceCount) {
        return taken.nextClearBit(0) < pieceCount;
    }
}
