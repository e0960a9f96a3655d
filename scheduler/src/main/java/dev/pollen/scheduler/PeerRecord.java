package dev.pollen.scheduler;

import dev.pollen.proto.common.v2.Priority;
import dev.pollen.proto.common.v2.Range;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** One download of a task on one host, as the scheduler tracks it. Guarded by the {@link Cluster} lock. */
final class PeerRecord {
    /**
     * The states of Dragonfly's peer FSM (dragonflyoss/dragonfly scheduler/resource/standard/peer.go, NewPeer), with
     * its exact strings: StatPeer and candidate parents carry them. Dragonfly v2 never enters ReceivedTiny or
     * ReceivedSmall (tiny and small tasks register as ReceivedNormal), so neither does Pollen.
     */
    enum State {
        PENDING("Pending"), RECEIVED_EMPTY("ReceivedEmpty"), RECEIVED_NORMAL("ReceivedNormal"), RUNNING("Running"),
        BACK_TO_SOURCE("BackToSource"), SUCCEEDED("Succeeded"), FAILED("Failed"), LEAVE("Leave");

        final String label;

        State(String label) {
            this.label = label;
        }
    }

    /** Dragonfly's default (peer.go, defaultConcurrentPieceCount) when the download names none. */
    static final int DEFAULT_CONCURRENT_PIECE_COUNT = 8;

    final String id;
    final String taskId;
    final String hostId;
    /** Whether its host was a seed when it registered. */
    final boolean onSeed;
    final Instant createdAt;
    final BitSet pieces = new BitSet();
    final PieceCosts pieceCosts = new PieceCosts();
    /** Parents this peer may not be offered again: reschedule exclusions and parents that failed it. */
    final Set<String> blockedParents = new HashSet<>();
    /** Hosts of the parents this peer was last given; their capacity is returned when it is done. */
    final List<String> parentHosts = new ArrayList<>();
    State state = State.PENDING;
    Priority priority = Priority.LEVEL0;
    /** The requested byte range, null for the whole task: only whole-task peers complete the task. */
    Range range;
    int concurrentPieceCount = DEFAULT_CONCURRENT_PIECE_COUNT;
    boolean needBackToSource;
    /** Time from registration to DownloadPeer(BackToSource)Finished; zero until then. */
    Duration cost = Duration.ZERO;
    Instant updatedAt;
    /** Since when it waits for an answer (for a seed, a parent or a back-to-source grant); null when not held. */
    Instant heldSince;
    /** Its place in its task's servers list, -1 when not in it; kept by {@link TaskRecord#updateServing}. */
    int serverIndex = -1;

    PeerRecord(String id, String taskId, String hostId, boolean onSeed, Instant now) {
        this.id = id;
        this.taskId = taskId;
        this.hostId = hostId;
        this.onSeed = onSeed;
        this.createdAt = now;
        this.updatedAt = now;
    }

    /**
     * Whether others may fetch from it: it is downloading (pieces arrive over SyncPieces) or done. As Dragonfly's
     * evaluator (IsBadParent): Running, BackToSource and Succeeded. A peer just answered is not yet one: it
     * reports Started once its task exists on its node, so a child sent to it never finds the task missing.
     */
    boolean canServe() {
        return state == State.RUNNING || state == State.BACK_TO_SOURCE || state == State.SUCCEEDED;
    }

    boolean finished() {
        return state == State.SUCCEEDED || state == State.FAILED || state == State.LEAVE;
    }
}
