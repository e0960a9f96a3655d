package dev.pollen.scheduler;

import com.google.protobuf.Timestamp;
import dev.pollen.proto.common.v2.Peer;
import dev.pollen.proto.common.v2.Task;
import java.time.Duration;
import java.time.Instant;

/**
 * The scheduler's records as the wire messages Dragonfly's scheduler sends (dragonflyoss/dragonfly
 * scheduler/service/service_v2.go: constructSuccessNormalTaskResponse, StatPeer, StatTask). Called under the
 * {@link Cluster} lock, as the records are guarded by it.
 */
final class Protos {
    private Protos() {
    }

    /**
     * The task without its pieces, as in a candidate parent. An unknown length goes out as content_length 0 with
     * size_scope UNKNOW (4), a known empty task as 0 with EMPTY (3). Dragonfly sends uint64(-1) for an unknown
     * length; Pollen does not: a Rust peer reads that as an 18 EiB file, and a Pollen child uses
     * content_length only when it is positive or the scope says EMPTY, so 0 with UNKNOW is safe for both and
     * -1 never leaves the scheduler.
     */
    static Task.Builder task(TaskRecord t) {
        Task.Builder b = Task.newBuilder().setId(t.id).setType(t.type).setUrl(t.url)
                .setContentLength(Math.max(0, t.contentLength)).setPieceCount(Math.max(0, t.pieceCount))
                .setSizeScopeValue(t.sizeScope()).setState(t.state.label).setPeerCount(t.peers.size())
                .addAllFilteredQueryParams(t.filteredQueryParams)
                .setCreatedAt(timestamp(t.createdAt)).setUpdatedAt(timestamp(t.updatedAt));
        // The request headers are not sent (Dragonfly does): they may hold one peer's origin credentials.
        if (t.tag != null) {
            b.setTag(t.tag);
        }
        if (t.application != null) {
            b.setApplication(t.application);
        }
        if (t.digest != null) {
            b.setDigest(t.digest);
        }
        return b;
    }

    /** StatTask: the task with its back-to-source pieces; has_available_peer is Pollen's addition. */
    static Task statTask(TaskRecord t) {
        return task(t).addAllPieces(t.pieces.values())
                .setHasAvailablePeer(t.peers.values().stream().anyMatch(PeerRecord::canServe)).build();
    }

    /** A peer with its task and its host as announced; {@code task} is shared among a decision's candidates. */
    static Peer peer(PeerRecord p, Task task, HostRecord host) {
        Peer.Builder b = Peer.newBuilder().setId(p.id).setPriority(p.priority).setCost(duration(p.cost))
                .setState(p.state.label).setTask(task).setNeedBackToSource(p.needBackToSource)
                .setConcurrentPieceCount(p.concurrentPieceCount)
                .setCreatedAt(timestamp(p.createdAt)).setUpdatedAt(timestamp(p.updatedAt));
        if (host != null) {
            b.setHost(host.host);
        }
        if (p.range != null) {
            b.setRange(p.range);
        }
        return b.build();
    }

    static Timestamp timestamp(Instant t) {
        return Timestamp.newBuilder().setSeconds(t.getEpochSecond()).setNanos(t.getNano()).build();
    }

    static com.google.protobuf.Duration duration(Duration d) {
        return com.google.protobuf.Duration.newBuilder().setSeconds(d.getSeconds()).setNanos(d.getNano()).build();
    }
}
