package dev.pollen.scheduler;

import dev.pollen.proto.common.v2.Piece;
import dev.pollen.proto.common.v2.SizeScope;
import dev.pollen.proto.common.v2.TaskType;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/** A task and its peers. Guarded by the {@link Cluster} lock. */
final class TaskRecord {
    /**
     * The states of Dragonfly's task FSM (dragonflyoss/dragonfly scheduler/resource/standard/task.go, NewTask) that
     * its v2 service reaches, with its exact strings (its "Leave" has no caller in v2).
     */
    enum State {
        PENDING("Pending"), RUNNING("Running"), SUCCEEDED("Succeeded"), FAILED("Failed");

        final String label;

        State(String label) {
            this.label = label;
        }
    }

    /** Dragonfly's SizeScope_UNKNOW: in its pkg/apis common.proto, not in the client crate's nor in Pollen's. */
    static final int SIZE_SCOPE_UNKNOWN = 4;
    /** Dragonfly's TinyFileSize (task.go). */
    static final long TINY_FILE_SIZE = 128;

    final String id;
    final Instant createdAt;
    final Map<String, PeerRecord> peers = new LinkedHashMap<>();
    /** Pieces reported as downloaded from the source, by number: what StatTask lists, as in Dragonfly. */
    final Map<Integer, Piece> pieces = new TreeMap<>();
    String url = "";
    TaskType type = TaskType.STANDARD;
    String tag;
    String application;
    String digest;
    List<String> filteredQueryParams = List.of();
    /** -1 while unknown: no registrant has reported it (or the source failed since). */
    long contentLength = -1;
    long pieceLength = -1;
    int pieceCount = -1;
    /**
     * The peers that may serve others ({@link PeerRecord#canServe()}), apart from those on seeds: a list, so that a
     * decision samples some of them at random in O(1) instead of walking the whole swarm.
     */
    final List<PeerRecord> servers = new ArrayList<>();
    /** The peers on seed hosts that may serve: few, and every decision looks at them all. */
    final List<PeerRecord> seedServers = new ArrayList<>();
    /**
     * Peers downloading from the origin, or told to (Dragonfly's BackToSourcePeers): bounded by
     * {@link SchedulingConfig#backToSourceLimit()}; a peer leaves it when it finishes, fails, leaves or is given
     * parents.
     */
    final Set<String> backToSource = new HashSet<>();
    State state = State.PENDING;
    boolean seedTriggered;
    Instant seedTriggeredAt;
    Instant updatedAt;

    TaskRecord(String id, Instant now) {
        this.id = id;
        this.createdAt = now;
        this.updatedAt = now;
    }

    /** Keeps {@link #servers} and {@link #seedServers} in step with the peer's state (swap-remove: O(1)). */
    void updateServing(PeerRecord p) {
        List<PeerRecord> list = p.onSeed ? seedServers : servers;
        boolean serving = p.canServe() && peers.get(p.id) == p;
        if (serving && p.serverIndex < 0) {
            p.serverIndex = list.size();
            list.add(p);
        } else if (!serving && p.serverIndex >= 0) {
            PeerRecord last = list.remove(list.size() - 1);
            if (last != p) {
                list.set(p.serverIndex, last);
                last.serverIndex = p.serverIndex;
            }
            p.serverIndex = -1;
        }
    }

    /**
     * Dragonfly's Task.SizeScope as a wire value. It tests the piece count only for SMALL: Dragonfly's count is
     * never negative once a length is stored (an unset field reads as 0), so an unknown count here ranks as NORMAL
     * just as Dragonfly's 0 does.
     */
    int sizeScope() {
        if (contentLength < 0) {
            return SIZE_SCOPE_UNKNOWN;
        }
        if (contentLength == 0) {
            return SizeScope.EMPTY_VALUE;
        }
        if (contentLength <= TINY_FILE_SIZE) {
            return SizeScope.TINY_VALUE;
        }
        return pieceCount == 1 ? SizeScope.SMALL_VALUE : SizeScope.NORMAL_VALUE;
    }
}
