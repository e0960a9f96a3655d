package dev.pollen.scheduler;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/** A task and its peers. Guarded by the {@link Cluster} lock. */
final class TaskRecord {
    final String id;
    final Instant createdAt;
    final Map<String, PeerRecord> peers = new LinkedHashMap<>();
    String url = "";
    long contentLength = -1;
    long pieceLength;
    int pieceCount = -1;
    boolean seedTriggered;
    Instant seedTriggeredAt;
    Instant updatedAt;

    TaskRecord(String id, Instant now) {
        this.id = id;
        this.createdAt = now;
        this.updatedAt = now;
    }
}
