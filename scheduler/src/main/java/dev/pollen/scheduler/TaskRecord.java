package dev.pollen.scheduler;

import dev.pollen.proto.common.v2.Piece;
import dev.pollen.proto.common.v2.SizeScope;
import dev.pollen.proto.common.v2.TaskType;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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
    State state = State.PENDING;
    boolean seedTriggered;
    Instant seedTriggeredAt;
    Instant updatedAt;

    TaskRecord(String id, Instant now) {
        this.id = id;
        this.createdAt = now;
        this.updatedAt = now;
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
