package dev.pollen.simulator;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

/** A simulated host: the origin, the seed peer or an agent, with its links, pieces and its one download. */
final class SimNode {
    enum Kind { ORIGIN, SEED, AGENT }

    enum State { IDLE, REGISTERING, HELD, DOWNLOADING, DONE, LEFT }

    /** How many recent piece times the agent keeps to judge a slow parent (ParentSet.RECENT_PIECES). */
    static final int RECENT = 16;

    final int index;
    final Kind kind;
    final String hostId;
    final String peerId;
    final double up;
    final double down;
    /** One-way latency to the network core, seconds. */
    final double latency;
    final int uploadSlots;

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
    int slotsUsed;
    /** Every piece from the origin (scheduler said so, or no parent is usable and it names none). */
    boolean originMode;
    /** Pieces the agent sends to the origin after a fruitless reschedule while it still has parents. */
    int originCredits;

    final List<ParentLink> parents = new ArrayList<>();
    final List<SimNode> followers = new ArrayList<>();
    /** Requests this node made (as a child), in any state. */
    final List<Flow> outstanding = new ArrayList<>();
    /** Transfers this node is sending now, unless its uplink is {@link #shared}. */
    final List<Flow> upFlows = new ArrayList<>();
    /** Transfers this node is receiving now. */
    final List<Flow> downFlows = new ArrayList<>();
    /** Whether the uplink runs as one shared rate (many uploads): its transfers are then in {@link #sharedFlows}. */
    boolean shared;
    /** Bytes each transfer of a shared uplink has been sent since it turned shared, as of {@link #serviceAt}. */
    double service;
    double serviceAt;
    /** A shared uplink's transfers by the service level at which each is done. */
    java.util.PriorityQueue<Flow> sharedFlows;
    /** Requests that arrived while every upload slot was busy: served in order. */
    final ArrayDeque<Flow> uploadQueue = new ArrayDeque<>();

    /** The pending event of this uplink: its earliest transfer's finish; infinite when none is pending. */
    double uploadEventAt = Double.POSITIVE_INFINITY;
    double uploadedBytes;
    double fromOriginBytes;
    double lastAnnouncement;
    boolean waitCheckPending;
    boolean reschedulePending;
    /** When the last reschedule was answered: a download does not ask again within {@link Simulation#STALL}. */
    double rescheduledAt = Double.NEGATIVE_INFINITY;
    /** A reschedule was answered and no piece came from a parent since: the next stall sends waiting pieces to the origin. */
    boolean stalledOnce;
    final double[] recent = new double[RECENT];
    int recentCount;
    int recentNext;
    int reschedules;
    int slowMarks;
    int parentFailures;

    SimNode(int index, Kind kind, String hostId, String peerId, double up, double down, double latency, int uploadSlots) {
        this.index = index;
        this.kind = kind;
        this.hostId = hostId;
        this.peerId = peerId;
        this.up = up;
        this.down = down;
        this.latency = latency;
        this.uploadSlots = uploadSlots;
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

    boolean hasUsableParent() {
        for (ParentLink l : parents) {
            if (l.usable()) {
                return true;
            }
        }
        return false;
    }

    void recordPieceTime(double seconds) {
        recent[recentNext] = seconds;
        recentNext = (recentNext + 1) % RECENT;
        recentCount = Math.min(RECENT, recentCount + 1);
    }

    /** ParentSet.medianNanos: 0 until three pieces have arrived. */
    double medianPieceTime() {
        if (recentCount < 3) {
            return 0;
        }
        double[] sorted = java.util.Arrays.copyOf(recent, recentCount);
        java.util.Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }

    boolean wantsMore(int pieceCount) {
        return taken.nextClearBit(0) < pieceCount;
    }
}
