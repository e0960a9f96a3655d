package dev.pollen.scheduler;

import java.time.Instant;
import java.util.BitSet;
import java.util.HashSet;
import java.util.Set;

/** One download of a task on one host, as the scheduler tracks it. Guarded by the {@link Cluster} lock. */
final class PeerRecord {
    enum State { PENDING, RUNNING, BACK_TO_SOURCE, SUCCEEDED, FAILED, LEFT }

    final String id;
    final String taskId;
    final String hostId;
    final Instant createdAt;
    final BitSet pieces = new BitSet();
    /** Parents that failed this peer: never offered to it again for this task. */
    final Set<String> blockedParents = new HashSet<>();
    /** Hosts of the parents this peer was last given; their capacity is returned when it is done. */
    final java.util.List<String> parentHosts = new java.util.ArrayList<>();
    State state = State.PENDING;
    Instant updatedAt;

    PeerRecord(String id, String taskId, String hostId, Instant now) {
        this.id = id;
        this.taskId = taskId;
        this.hostId = hostId;
        this.createdAt = now;
        this.updatedAt = now;
    }

    /** Whether others may fetch from it: it is downloading (pieces arrive over SyncPieces) or done. */
    boolean canServe() {
        return state == State.RUNNING || state == State.BACK_TO_SOURCE || state == State.SUCCEEDED;
    }
}
