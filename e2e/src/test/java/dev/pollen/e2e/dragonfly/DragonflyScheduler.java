package dev.pollen.e2e.dragonfly;

import com.google.protobuf.Empty;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Peer;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.proto.common.v2.Task;
import dev.pollen.proto.common.v2.TaskType;
import dev.pollen.proto.scheduler.v2.AnnounceHostRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerResponse;
import dev.pollen.proto.scheduler.v2.DeleteHostRequest;
import dev.pollen.proto.scheduler.v2.DeletePeerRequest;
import dev.pollen.proto.scheduler.v2.DeleteTaskRequest;
import dev.pollen.proto.scheduler.v2.EmptyTaskResponse;
import dev.pollen.proto.scheduler.v2.ListHostsRequest;
import dev.pollen.proto.scheduler.v2.ListHostsResponse;
import dev.pollen.proto.scheduler.v2.MetadataOnlyResponse;
import dev.pollen.proto.scheduler.v2.NeedBackToSourceResponse;
import dev.pollen.proto.scheduler.v2.NormalTaskResponse;
import dev.pollen.proto.scheduler.v2.SchedulerGrpc;
import dev.pollen.proto.scheduler.v2.StatPeerRequest;
import dev.pollen.proto.scheduler.v2.StatTaskRequest;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * A {@code scheduler.v2.Scheduler} in the test JVM, on 127.0.0.1, that answers as Dragonfly's Go scheduler does
 * (dragonflyoss/dragonfly @66db4564, {@code scheduler/service/service_v2.go}, {@code scheduler/scheduling/scheduling.go},
 * {@code scheduler/resource/standard/{task,peer}.go}), written from that source and not from Pollen's scheduler:
 *
 * <ul>
 *   <li>the first registrant of a task sets its length: {@code handleResource} stores
 *       {@code actual_content_length}/{@code actual_piece_count}/{@code actual_piece_length}, an unset field as 0;
 *       later registrants change nothing. {@code Task.SizeScope}: length 0 is EMPTY (answered
 *       {@code EmptyTaskResponse}), any other NORMAL/SMALL/TINY/UNKNOW is scheduled;</li>
 *   <li>{@code ScheduleCandidateParents}: up to {@link #RETRY_BACK_TO_SOURCE_LIMIT} rounds of
 *       {@code FindCandidateParents} {@code retryInterval} apart (jitter ±25 %, {@code pkg/time RandomDelayWithJitter}),
 *       then {@code NeedBackToSourceResponse}; {@code NeedBackToSourceResponse} at once when the peer's
 *       NeedBackToSource is set ({@code download.need_back_to_source}, or the task was Pending/Failed and there are
 *       no seed peers, as here);</li>
 *   <li>{@code filterCandidateParents} + {@code IsBadParent}: other host, not blocklisted, state Running, BackToSource
 *       or Succeeded, a normal host with in-degree 0 only when BackToSource or Succeeded, no cycle; best
 *       {@link #CANDIDATE_PARENT_LIMIT} by the evaluator's host-type and IDC terms (the load term needs bandwidth
 *       figures this test scheduler does not collect);</li>
 *   <li>the peer FSM of {@code peer.go} with its exact state strings, the task FSM of {@code task.go};
 *       {@code ReschedulePeerRequest} blocklists the candidates it names, {@code DownloadPieceFailedRequest} with
 *       {@code temporary} its parent; back-to-source pieces are the only ones stored on the task.</li>
 * </ul>
 *
 * <p>Every {@link AnnouncePeerRequest} received and every response sent is recorded for assertions. No seed peers,
 * no GC, no rate limiter, no register delay beyond {@code ExponentialDelayWithJitter}'s.
 */
public final class DragonflyScheduler implements AutoCloseable {
    /** {@code config/constants.go DefaultSchedulerRetryInterval}. */
    public static final Duration DEFAULT_RETRY_INTERVAL = Duration.ofMillis(500);
    /** {@code DefaultSchedulerRetryBackToSourceLimit}. */
    public static final int RETRY_BACK_TO_SOURCE_LIMIT = 4;
    /** {@code DefaultSchedulerRetryLimit}. */
    public static final int RETRY_LIMIT = 5;
    /** {@code DefaultSchedulerCandidateParentLimit}. */
    public static final int CANDIDATE_PARENT_LIMIT = 3;
    /** {@code DefaultSchedulerFilterParentLimit}. */
    static final int FILTER_PARENT_LIMIT = 15;
    /** {@code DefaultSchedulerBackToSourceCount}. */
    static final int BACK_TO_SOURCE_COUNT = 200;
    /** {@code peer.go defaultConcurrentPieceCount}. */
    static final int DEFAULT_CONCURRENT_PIECE_COUNT = 8;

    /** A response this scheduler sent on an AnnouncePeer stream, with the peer it went to. */
    public record Sent(String peerId, AnnouncePeerResponse response) {
    }

    private final Duration retryInterval;
    private final ReentrantLock lock = new ReentrantLock();
    private final Map<String, HostState> hosts = new LinkedHashMap<>();
    private final Map<String, TaskState> tasks = new LinkedHashMap<>();
    private final Map<String, PeerState> peers = new LinkedHashMap<>();
    private final List<AnnouncePeerRequest> received = new CopyOnWriteArrayList<>();
    private final List<Sent> sent = new CopyOnWriteArrayList<>();
    /** Candidate parents as the scheduler saw them when {@link #forceCandidates} was called: a stale view. */
    private final Map<String, List<Peer>> forcedCandidates = new LinkedHashMap<>();
    private final Server server;

    private DragonflyScheduler(Duration retryInterval) {
        this.retryInterval = retryInterval;
        try {
            server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                    .addService(new Service())
                    .build()
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the Dragonfly-style scheduler", e);
        }
    }

    public static DragonflyScheduler start() {
        return start(DEFAULT_RETRY_INTERVAL);
    }

    /** With another {@code scheduler.retryInterval} (Dragonfly's yaml key), e.g. to make the retries visible. */
    public static DragonflyScheduler start(Duration retryInterval) {
        return new DragonflyScheduler(retryInterval);
    }

    public int port() {
        return server.getPort();
    }

    /** {@code 127.0.0.1:PORT}, for {@code --scheduler.addresses}. */
    public String address() {
        return "127.0.0.1:" + port();
    }

    @Override
    public void close() {
        server.shutdownNow();
        try {
            server.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---- what the test looks at and changes ----

    /** Every AnnouncePeerRequest received so far, in order. */
    public List<AnnouncePeerRequest> received() {
        return List.copyOf(received);
    }

    /** The RegisterPeerRequests received for {@code taskId}. */
    public List<AnnouncePeerRequest> registrations(String taskId) {
        return received.stream().filter(r -> r.hasRegisterPeerRequest() && r.getTaskId().equals(taskId)).toList();
    }

    /** Every response sent on AnnouncePeer streams so far, in order. */
    public List<Sent> sent() {
        return List.copyOf(sent);
    }

    /** The responses sent to {@code peerId}. */
    public List<AnnouncePeerResponse> sentTo(String peerId) {
        return sent.stream().filter(s -> s.peerId().equals(peerId)).map(Sent::response).toList();
    }

    /** The hosts announced so far (their ids). */
    public Set<String> hostIds() {
        return locked(() -> Set.copyOf(hosts.keySet()));
    }

    /** A peer's FSM state ("Succeeded", "BackToSource", ...), or null when the scheduler does not know it. */
    public String peerState(String peerId) {
        return locked(() -> {
            PeerState p = peers.get(peerId);
            return p == null ? null : p.state;
        });
    }

    /** The task's FSM state, or null. */
    public String taskState(String taskId) {
        return locked(() -> {
            TaskState t = tasks.get(taskId);
            return t == null ? null : t.state;
        });
    }

    /** The peers of {@code taskId} on {@code hostId} (their ids). */
    public List<String> peersOn(String hostId, String taskId) {
        return locked(() -> peers.values().stream()
                .filter(p -> p.host.id.equals(hostId) && p.task.id.equals(taskId)).map(p -> p.id).toList());
    }

    /** What DeleteTask does for {@code hostId} (every peer of the task on that host goes). */
    public void deleteTaskOnHost(String hostId, String taskId) {
        locked(() -> {
            deletePeersOnHost(hostId, taskId);
            return null;
        });
    }

    /**
     * Makes every later scheduling of {@code taskId} offer these peers as they are now (minus the child's
     * blocklist), whatever becomes of them: a scheduler whose view is stale, e.g. still naming a parent after
     * DeleteTask removed it.
     */
    public void forceCandidates(String taskId, String... peerIds) {
        locked(() -> {
            List<Peer> snapshot = new ArrayList<>();
            for (String id : peerIds) {
                PeerState p = peers.get(id);
                if (p == null) {
                    throw new IllegalStateException("peer " + id + " is not known to the scheduler");
                }
                snapshot.add(candidatePeer(p));
            }
            return forcedCandidates.put(taskId, snapshot);
        });
    }

    /**
     * Records a peer of {@code taskId} on an announced host in {@code state}, as if it had registered and
     * reported: e.g. a "Succeeded" peer whose dfdaemon no longer has the task. The task is created (length
     * {@code contentLength}, state Succeeded) if it does not exist.
     */
    public void injectPeer(String taskId, String url, long contentLength, long pieceLength, String peerId, String hostId,
            String state) {
        locked(() -> {
            HostState host = hosts.get(hostId);
            if (host == null) {
                throw new IllegalStateException("host " + hostId + " was not announced");
            }
            TaskState task = tasks.computeIfAbsent(taskId, id -> {
                TaskState t = new TaskState(id, Download.newBuilder().setUrl(url).build(), contentLength,
                        pieceLength == 0 ? 0 : (int) ((contentLength + pieceLength - 1) / pieceLength), pieceLength);
                t.state = "Succeeded";
                return t;
            });
            PeerState peer = new PeerState(peerId, task, host, Download.getDefaultInstance(), null);
            peer.state = state;
            peers.put(peerId, peer);
            task.peers.put(peerId, peer);
            return null;
        });
    }

    private <T> T locked(Supplier<T> body) {
        lock.lock();
        try {
            return body.get();
        } finally {
            lock.unlock();
        }
    }

    // ---- the state, as resource/standard keeps it ----

    private static final class HostState {
        final String id;
        Host host;
        final AtomicInteger concurrentRegisterCount = new AtomicInteger();

        HostState(Host host) {
            this.id = host.getId();
            this.host = host;
        }
    }

    private static final class TaskState {
        final String id;
        final Download download;
        /** {@code ContentLength}: -1 unknown, set by the first registrant. */
        long contentLength;
        int totalPieceCount;
        final long pieceLength;
        String state = "Pending";
        final Map<String, PeerState> peers = new LinkedHashMap<>();
        final Set<String> backToSourcePeers = new HashSet<>();
        final Map<Integer, Piece> pieces = new LinkedHashMap<>();
        final Instant createdAt = Instant.now();
        Instant updatedAt = createdAt;

        TaskState(String id, Download download, long contentLength, int totalPieceCount, long pieceLength) {
            this.id = id;
            this.download = download;
            this.contentLength = contentLength;
            this.totalPieceCount = totalPieceCount;
            this.pieceLength = pieceLength;
        }

        /** {@code task.go SizeScope}; UNKNOW is 4, which Pollen's (and the Rust client's) common.proto lacks. */
        int sizeScope() {
            if (contentLength < 0 || totalPieceCount < 0) {
                return 4;
            }
            if (contentLength == 0) {
                return 3; // EMPTY
            }
            if (contentLength <= 128) {
                return 2; // TINY
            }
            return totalPieceCount == 1 ? 1 : 0; // SMALL : NORMAL
        }

        /** {@code task.go CanBackToSource}. */
        boolean canBackToSource() {
            return backToSourcePeers.size() <= BACK_TO_SOURCE_COUNT && download.getType() != TaskType.PERSISTENT_CACHE;
        }

        /** {@code task.go HasAvailablePeer}. */
        boolean hasAvailablePeer(String hostId, Set<String> blocklist) {
            return peers.values().stream().anyMatch(p -> !blocklist.contains(p.id) && !p.host.id.equals(hostId)
                    && (p.state.equals("Running") || p.state.equals("Succeeded") || p.state.equals("BackToSource")));
        }
    }

    private static final class PeerState {
        final String id;
        final TaskState task;
        final HostState host;
        final Download download;
        final StreamObserver<AnnouncePeerResponse> stream;
        String state = "Pending";
        boolean needBackToSource;
        final Set<String> blockParents = new HashSet<>();
        /** In-edges of the task DAG: this peer's current parents. */
        final Set<String> parents = new HashSet<>();
        final Set<Integer> finishedPieces = new HashSet<>();
        final Instant createdAt = Instant.now();
        Instant updatedAt = createdAt;
        Duration cost = Duration.ZERO;

        PeerState(String id, TaskState task, HostState host, Download download, StreamObserver<AnnouncePeerResponse> stream) {
            this.id = id;
            this.task = task;
            this.host = host;
            this.download = download;
            this.stream = stream;
        }

        /** {@code peer.go NewPeer}'s FSM: fires {@code event}, or throws the looplab/fsm error text as Internal. */
        void fire(String event) {
            String dst = switch (event) {
                case "RegisterEmpty" -> from("Pending") ? "ReceivedEmpty" : null;
                case "RegisterNormal" -> from("Pending") ? "ReceivedNormal" : null;
                case "Download" -> received() ? "Running" : null;
                case "DownloadBackToSource" -> received() || from("Running") ? "BackToSource" : null;
                case "DownloadSucceeded" -> received() || from("Running") || from("BackToSource") ? "Succeeded" : null;
                case "DownloadFailed" -> from("Pending") || received() || from("Running") || from("BackToSource")
                        || from("Succeeded") ? "Failed" : null;
                case "Leave" -> !from("Leave") ? "Leave" : null;
                default -> null;
            };
            if (dst == null) {
                throw Status.INTERNAL.withDescription("event " + event + " inappropriate in current state " + state)
                        .asRuntimeException();
            }
            String src = state;
            state = dst;
            updatedAt = Instant.now();
            // The callbacks of peer.go.
            switch (event) {
                case "DownloadBackToSource" -> {
                    task.backToSourcePeers.add(id);
                    parents.clear();
                }
                case "DownloadSucceeded", "DownloadFailed", "Leave" -> {
                    if (src.equals("BackToSource") || event.equals("Leave")) {
                        task.backToSourcePeers.remove(id);
                    }
                    parents.clear();
                }
                default -> {
                }
            }
        }

        private boolean from(String s) {
            return state.equals(s);
        }

        private boolean received() {
            return state.startsWith("Received");
        }
    }

    /** {@code task.go} task FSM. */
    private static void fireTask(TaskState task, String event) {
        String s = task.state;
        String dst = switch (event) {
            case "Download" -> s.equals("Pending") || s.equals("Succeeded") || s.equals("Failed") || s.equals("Leave") ? "Running" : null;
            case "DownloadSucceeded" -> s.equals("Leave") || s.equals("Running") || s.equals("Failed") ? "Succeeded" : null;
            case "DownloadFailed" -> s.equals("Running") ? "Failed" : null;
            default -> null;
        };
        if (dst == null) {
            throw Status.INTERNAL.withDescription("event " + event + " inappropriate in current state " + s).asRuntimeException();
        }
        task.state = dst;
        task.updatedAt = Instant.now();
    }

    private void deletePeersOnHost(String hostId, String taskId) {
        List<String> gone = peers.values().stream()
                .filter(p -> p.host.id.equals(hostId) && p.task.id.equals(taskId)).map(p -> p.id).toList();
        gone.forEach(this::deletePeer);
    }

    /** {@code peer_manager.go Delete}: out of the map, the task DAG and every child's in-edges. */
    private void deletePeer(String peerId) {
        PeerState p = peers.remove(peerId);
        if (p != null) {
            p.task.peers.remove(peerId);
            p.task.backToSourcePeers.remove(peerId);
            p.task.peers.values().forEach(child -> child.parents.remove(peerId));
        }
    }

    // ---- scheduling.go ----

    /** The outcome of one {@code FindCandidateParents} round. */
    private sealed interface Round permits Found, NotFound, Answer, Failure {
    }

    private record Found(AnnouncePeerResponse response) implements Round {
    }

    private record NotFound() implements Round {
    }

    private record Answer(AnnouncePeerResponse response) implements Round {
    }

    private record Failure(StatusRuntimeException error) implements Round {
    }

    /**
     * {@code scheduling.go ScheduleCandidateParents}: the retry loop, its delays outside the lock. Returns the
     * response to send, or throws the FailedPrecondition the loop returns.
     */
    private AnnouncePeerResponse scheduleCandidateParents(PeerState peer, ServerCallStreamObserver<?> call) {
        for (int n = 0; ; ) {
            if (call.isCancelled()) {
                throw Status.CANCELLED.withDescription("context canceled").asRuntimeException();
            }
            int attempt = n;
            Round round = locked(() -> findRound(peer, attempt));
            switch (round) {
                case Answer a -> {
                    return a.response();
                }
                case Found f -> {
                    return f.response();
                }
                case Failure f -> throw f.error();
                case NotFound nf -> {
                    n++;
                    sleepWithJitter(retryInterval);
                }
            }
        }
    }

    private Round findRound(PeerState peer, int n) {
        if (peer.task.canBackToSource()) {
            if (peer.needBackToSource) {
                return new Answer(needBackToSource("peer's NeedBackToSource is true"));
            }
            if (n >= RETRY_BACK_TO_SOURCE_LIMIT) {
                return new Answer(needBackToSource("scheduling exceeded RetryBackToSourceLimit"));
            }
        }
        if (n >= RETRY_LIMIT) {
            return new Failure(Status.FAILED_PRECONDITION.withDescription("scheduling exceeded RetryLimit").asRuntimeException());
        }
        peer.parents.clear();
        List<Peer> forced = forcedCandidates.get(peer.task.id);
        if (forced != null) {
            List<Peer> offered = forced.stream().filter(c -> !peer.blockParents.contains(c.getId()))
                    .limit(CANDIDATE_PARENT_LIMIT).toList();
            if (offered.isEmpty()) {
                return new NotFound();
            }
            return new Found(AnnouncePeerResponse.newBuilder()
                    .setNormalTaskResponse(NormalTaskResponse.newBuilder().addAllCandidateParents(offered)).build());
        }
        List<PeerState> candidates = findCandidateParents(peer);
        if (candidates.isEmpty()) {
            return new NotFound();
        }
        candidates.forEach(c -> peer.parents.add(c.id));
        NormalTaskResponse.Builder normal = NormalTaskResponse.newBuilder();
        candidates.forEach(c -> normal.addCandidateParents(candidatePeer(c)));
        return new Found(AnnouncePeerResponse.newBuilder().setNormalTaskResponse(normal).build());
    }

    private static AnnouncePeerResponse needBackToSource(String description) {
        return AnnouncePeerResponse.newBuilder()
                .setNeedBackToSourceResponse(NeedBackToSourceResponse.newBuilder().setDescription(description)).build();
    }

    /** {@code scheduling.go FindCandidateParents} + {@code filterCandidateParents} + {@code evaluator_default.go}. */
    private List<PeerState> findCandidateParents(PeerState peer) {
        if (!peer.state.equals("ReceivedNormal") && !peer.state.equals("Running")) {
            return List.of();
        }
        List<PeerState> sample = new ArrayList<>(peer.task.peers.values());
        Collections.shuffle(sample);
        List<PeerState> filtered = new ArrayList<>();
        for (PeerState c : sample.subList(0, Math.min(FILTER_PARENT_LIMIT, sample.size()))) {
            if (peer.blockParents.contains(c.id) || c.host.host.getDisableShared() || c.host.id.equals(peer.host.id)) {
                continue;
            }
            boolean normalHost = c.host.host.getType() == 0;
            if (normalHost && c.parents.isEmpty() && !c.state.equals("BackToSource") && !c.state.equals("Succeeded")) {
                continue;
            }
            // evaluator.go IsBadParent (the piece-cost outlier rule needs cost samples this scheduler does not keep).
            if (!c.state.equals("Running") && !c.state.equals("BackToSource") && !c.state.equals("Succeeded")) {
                continue;
            }
            if (isAncestor(peer.id, c, new HashSet<>())) {
                continue; // task.CanAddPeerEdges: the edge would close a cycle
            }
            filtered.add(c);
        }
        filtered.sort(Comparator.comparingDouble((PeerState c) -> -score(c, peer)));
        return filtered.subList(0, Math.min(CANDIDATE_PARENT_LIMIT, filtered.size()));
    }

    private boolean isAncestor(String ancestor, PeerState of, Set<String> seen) {
        for (String parent : of.parents) {
            if (parent.equals(ancestor)) {
                return true;
            }
            PeerState p = peers.get(parent);
            if (p != null && seen.add(parent) && isAncestor(ancestor, p, seen)) {
                return true;
            }
        }
        return false;
    }

    /** {@code evaluator_default.go}: 0.2 IDC affinity + 0.1 host type (load quality is 0 without MaxTxBandwidth). */
    private static double score(PeerState parent, PeerState child) {
        String pi = parent.host.host.getNetwork().getIdc();
        String ci = child.host.host.getNetwork().getIdc();
        double idc = !pi.isEmpty() && pi.equalsIgnoreCase(ci) ? 1 : 0;
        double hostType = parent.host.host.getType() != 0
                ? (parent.state.equals("ReceivedNormal") || parent.state.equals("Running") ? 1 : 0)
                : 0.5;
        return 0.2 * idc + 0.1 * hostType;
    }

    private static void sleepWithJitter(Duration base) {
        long ms = base.toMillis();
        long delay = ms * 3 / 4 + ThreadLocalRandom.current().nextLong(Math.max(1, ms / 2));
        try {
            Thread.sleep(delay);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw Status.CANCELLED.withDescription("interrupted").asRuntimeException();
        }
    }

    // ---- constructSuccessNormalTaskResponse, StatPeer, StatTask ----

    private Peer candidatePeer(PeerState p) {
        Peer.Builder b = Peer.newBuilder()
                .setId(p.id)
                .setPriority(p.download.getPriority())
                .setConcurrentPieceCount(p.download.hasConcurrentPieceCount() ? p.download.getConcurrentPieceCount()
                        : DEFAULT_CONCURRENT_PIECE_COUNT)
                .setCost(Protos.duration(p.cost))
                .setState(p.state)
                .setTask(task(p.task, false))
                .setHost(p.host.host.toBuilder().clearName().clearSchedulerClusterId().clearDisableShared())
                .setNeedBackToSource(p.needBackToSource)
                .setCreatedAt(Protos.timestamp(p.createdAt))
                .setUpdatedAt(Protos.timestamp(p.updatedAt));
        if (p.download.hasRange()) {
            b.setRange(p.download.getRange());
        }
        return b.build();
    }

    private static Task task(TaskState t, boolean withPieces) {
        Task.Builder b = Task.newBuilder()
                .setId(t.id)
                .setType(t.download.getType())
                .setUrl(t.download.getUrl())
                .setTag(t.download.getTag())
                .setApplication(t.download.getApplication())
                .addAllFilteredQueryParams(t.download.getFilteredQueryParamsList())
                .putAllRequestHeader(t.download.getRequestHeaderMap())
                .setContentLength(t.contentLength) // uint64(-1) = 18446744073709551615, as Go's conversion gives
                .setPieceCount(t.totalPieceCount)
                .setSizeScopeValue(t.sizeScope())
                .setState(t.state)
                .setPeerCount(t.peers.size())
                .setCreatedAt(Protos.timestamp(t.createdAt))
                .setUpdatedAt(Protos.timestamp(t.updatedAt));
        if (t.download.hasDigest() && !t.download.getDigest().isEmpty()) {
            b.setDigest(t.download.getDigest());
        }
        if (withPieces) {
            b.addAllPieces(t.pieces.values());
        }
        return b.build();
    }

    // ---- service_v2.go ----

    private final class Service extends SchedulerGrpc.SchedulerImplBase {
        @Override
        public void announceHost(AnnounceHostRequest request, StreamObserver<Empty> response) {
            locked(() -> {
                HostState existing = hosts.get(request.getHost().getId());
                if (existing == null) {
                    hosts.put(request.getHost().getId(), new HostState(request.getHost()));
                } else {
                    existing.host = request.getHost();
                }
                return null;
            });
            response.onNext(Empty.getDefaultInstance());
            response.onCompleted();
        }

        @Override
        public void listHosts(ListHostsRequest request, StreamObserver<ListHostsResponse> response) {
            List<Host> list = locked(() -> hosts.values().stream().map(h -> h.host)
                    .filter(h -> !request.hasType() || h.getType() == request.getType()).toList());
            response.onNext(ListHostsResponse.newBuilder().addAllHosts(list).build());
            response.onCompleted();
        }

        @Override
        public void deleteHost(DeleteHostRequest request, StreamObserver<Empty> response) {
            boolean found = locked(() -> {
                if (!hosts.containsKey(request.getHostId())) {
                    return false;
                }
                List<String> gone = peers.values().stream().filter(p -> p.host.id.equals(request.getHostId()))
                        .map(p -> p.id).toList();
                gone.forEach(DragonflyScheduler.this::deletePeer);
                hosts.remove(request.getHostId());
                return true;
            });
            if (!found) {
                response.onError(Status.NOT_FOUND.withDescription("host " + request.getHostId() + " not found").asRuntimeException());
                return;
            }
            response.onNext(Empty.getDefaultInstance());
            response.onCompleted();
        }

        @Override
        public void statTask(StatTaskRequest request, StreamObserver<Task> response) {
            Task t = locked(() -> {
                TaskState task = tasks.get(request.getTaskId());
                return task == null ? null : task(task, true);
            });
            if (t == null) {
                response.onError(Status.NOT_FOUND.withDescription("task " + request.getTaskId() + " not found").asRuntimeException());
                return;
            }
            response.onNext(t);
            response.onCompleted();
        }

        @Override
        public void deleteTask(DeleteTaskRequest request, StreamObserver<Empty> response) {
            boolean found = locked(() -> {
                if (!hosts.containsKey(request.getHostId())) {
                    return false;
                }
                deletePeersOnHost(request.getHostId(), request.getTaskId());
                return true;
            });
            if (!found) {
                response.onError(Status.NOT_FOUND.withDescription("host " + request.getHostId() + " not found").asRuntimeException());
                return;
            }
            response.onNext(Empty.getDefaultInstance());
            response.onCompleted();
        }

        @Override
        public void statPeer(StatPeerRequest request, StreamObserver<Peer> response) {
            Peer p = locked(() -> {
                PeerState peer = peers.get(request.getPeerId());
                if (peer == null) {
                    return null;
                }
                return candidatePeer(peer).toBuilder().setTask(task(peer.task, true))
                        .setHost(peer.host.host.toBuilder().clearSchedulerClusterId().clearDisableShared()).build();
            });
            if (p == null) {
                response.onError(Status.NOT_FOUND.withDescription("peer " + request.getPeerId() + " not found").asRuntimeException());
                return;
            }
            response.onNext(p);
            response.onCompleted();
        }

        @Override
        public void deletePeer(DeletePeerRequest request, StreamObserver<Empty> response) {
            locked(() -> {
                DragonflyScheduler.this.deletePeer(request.getPeerId());
                return null;
            });
            response.onNext(Empty.getDefaultInstance());
            response.onCompleted();
        }

        @Override
        public StreamObserver<AnnouncePeerRequest> announcePeer(StreamObserver<AnnouncePeerResponse> responses) {
            return new AnnounceStream((ServerCallStreamObserver<AnnouncePeerResponse>) responses);
        }
    }

    /** {@code (*V2).AnnouncePeer}: one stream, its requests handled in order (grpc-java serializes the callbacks). */
    private final class AnnounceStream implements StreamObserver<AnnouncePeerRequest> {
        private final ServerCallStreamObserver<AnnouncePeerResponse> responses;
        private boolean ended;

        AnnounceStream(ServerCallStreamObserver<AnnouncePeerResponse> responses) {
            this.responses = responses;
        }

        @Override
        public void onNext(AnnouncePeerRequest request) {
            received.add(request);
            if (ended) {
                return;
            }
            try {
                if (handle(request)) {
                    end(null);
                }
            } catch (StatusRuntimeException e) {
                end(e);
            }
        }

        /** Returns true when the server ends the stream (with OK) after this request, as the Go loop's {@code return nil}. */
        private boolean handle(AnnouncePeerRequest request) {
            String peerId = request.getPeerId();
            switch (request.getRequestCase()) {
                case REGISTER_PEER_REQUEST -> {
                    try {
                        register(request);
                    } catch (StatusRuntimeException e) {
                        // handleDownloadPeerFailedRequest; its own error (unknown peer) replaces the first.
                        locked(() -> {
                            PeerState p = peers.get(peerId);
                            if (p == null) {
                                throw notFound(peerId);
                            }
                            p.fire("DownloadFailed");
                            return null;
                        });
                        throw e;
                    }
                    return false;
                }
                case DOWNLOAD_PEER_STARTED_REQUEST -> {
                    onPeer(peerId, p -> {
                        if (!p.state.equals("Running")) {
                            fireOrFail(p, "Download", "DownloadFailed");
                        }
                    });
                    return false;
                }
                case DOWNLOAD_PEER_BACK_TO_SOURCE_STARTED_REQUEST -> {
                    onPeer(peerId, p -> {
                        if (!p.state.equals("Running")) {
                            try {
                                p.fire("DownloadBackToSource");
                            } catch (StatusRuntimeException e) {
                                backToSourceFailed(p);
                                throw e;
                            }
                        }
                    });
                    return false;
                }
                case RESCHEDULE_PEER_REQUEST -> {
                    PeerState peer = locked(() -> {
                        PeerState p = peers.get(peerId);
                        if (p == null) {
                            throw notFound(peerId);
                        }
                        request.getReschedulePeerRequest().getCandidateParentsList().forEach(c -> p.blockParents.add(c.getId()));
                        return p;
                    });
                    send(peerId, scheduleCandidateParents(peer, responses));
                    return false;
                }
                case DOWNLOAD_PEER_FINISHED_REQUEST -> {
                    onPeer(peerId, p -> {
                        p.cost = Duration.between(p.createdAt, Instant.now());
                        p.fire("DownloadSucceeded");
                    });
                    return true;
                }
                case DOWNLOAD_PEER_BACK_TO_SOURCE_FINISHED_REQUEST -> {
                    onPeer(peerId, p -> {
                        p.cost = Duration.between(p.createdAt, Instant.now());
                        try {
                            p.fire("DownloadSucceeded");
                            if (!p.download.hasRange() && !p.task.state.equals("Succeeded")) {
                                fireTask(p.task, "DownloadSucceeded");
                            }
                        } catch (StatusRuntimeException e) {
                            backToSourceFailed(p);
                            throw e;
                        }
                    });
                    return true;
                }
                case DOWNLOAD_PEER_FAILED_REQUEST -> {
                    onPeer(peerId, p -> p.fire("DownloadFailed"));
                    return true;
                }
                case DOWNLOAD_PEER_BACK_TO_SOURCE_FAILED_REQUEST -> {
                    onPeer(peerId, this::backToSourceFailed);
                    return true;
                }
                case DOWNLOAD_PIECE_FINISHED_REQUEST, DOWNLOAD_PIECE_BACK_TO_SOURCE_FINISHED_REQUEST -> {
                    // Errors here are only logged upstream: the stream goes on.
                    boolean fromSource = request.hasDownloadPieceBackToSourceFinishedRequest();
                    Piece piece = fromSource ? request.getDownloadPieceBackToSourceFinishedRequest().getPiece()
                            : request.getDownloadPieceFinishedRequest().getPiece();
                    locked(() -> {
                        PeerState p = peers.get(peerId);
                        if (p != null) {
                            p.finishedPieces.add(piece.getNumber());
                            p.updatedAt = Instant.now();
                            PeerState parent = piece.hasParentId() ? peers.get(piece.getParentId()) : null;
                            if (parent != null) {
                                parent.updatedAt = Instant.now();
                            }
                            p.task.updatedAt = Instant.now();
                            if (fromSource) {
                                p.task.pieces.put(piece.getNumber(), piece);
                            }
                        }
                        return null;
                    });
                    return false;
                }
                case DOWNLOAD_PIECE_FAILED_REQUEST -> {
                    locked(() -> {
                        PeerState p = peers.get(peerId);
                        if (p != null && request.getDownloadPieceFailedRequest().getTemporary()) {
                            p.updatedAt = Instant.now();
                            p.blockParents.add(request.getDownloadPieceFailedRequest().getParentId());
                        }
                        return null;
                    });
                    return false; // temporary=false: FailedPrecondition, only logged upstream
                }
                case DOWNLOAD_PIECE_BACK_TO_SOURCE_FAILED_REQUEST -> {
                    return false; // Internal "download piece from source failed", only logged
                }
                default -> throw Status.FAILED_PRECONDITION.withDescription("receive unknown request: <nil>").asRuntimeException();
            }
        }

        /** {@code handleRegisterPeerRequest}. */
        private void register(AnnouncePeerRequest request) {
            Download download = request.getRegisterPeerRequest().getDownload();
            String hostId = request.getHostId();
            PeerState peer = locked(() -> {
                // handleResource
                HostState host = hosts.get(hostId);
                if (host == null) {
                    throw Status.NOT_FOUND.withDescription("host " + hostId + " not found").asRuntimeException();
                }
                TaskState task = tasks.get(request.getTaskId());
                if (task == null) {
                    task = new TaskState(request.getTaskId(), download, download.getActualContentLength(),
                            (int) download.getActualPieceCount(), download.getActualPieceLength());
                    tasks.put(task.id, task);
                }
                PeerState p = peers.get(request.getPeerId());
                if (p == null) {
                    p = new PeerState(request.getPeerId(), task, host, download, responses);
                    peers.put(p.id, p);
                    task.peers.put(p.id, p);
                } else {
                    p.fire("RegisterNormal"); // fails: a registered peer is past Pending
                }
                return p;
            });
            int concurrent = peer.host.concurrentRegisterCount.incrementAndGet();
            try {
                if (download.getMetadataOnly()) {
                    locked(() -> {
                        if (!peer.task.state.equals("Running")) {
                            fireTask(peer.task, "Download");
                        }
                        peer.fire("RegisterNormal");
                        return null;
                    });
                    send(peer.id, AnnouncePeerResponse.newBuilder().setMetadataOnlyResponse(MetadataOnlyResponse.getDefaultInstance()).build());
                    return;
                }
                if (peer.host.host.getType() != 1) { // not a super seed (types.HostTypeSuperSeed): ExponentialDelayWithJitter(count, 30ms, 1s)
                    long d = Math.min(30L << Math.min(concurrent, 10), 1000);
                    sleep(d / 2 + ThreadLocalRandom.current().nextLong(Math.max(1, d)));
                }
                int scope = locked(() -> {
                    Set<String> blocklist = Set.of(peer.id);
                    TaskState t = peer.task;
                    if (download.getNeedBackToSource()) {
                        peer.needBackToSource = true;
                    } else if (t.state.equals("Pending") || t.state.equals("Failed") || t.state.equals("Leave")
                            || t.state.equals("Succeeded") && !t.hasAvailablePeer(hostId, blocklist)) {
                        peer.needBackToSource = true; // no seed peers in this cluster
                    }
                    if (!t.state.equals("Running")) {
                        fireTask(t, "Download");
                    }
                    int s = t.sizeScope();
                    if (s == 3) {
                        peer.fire("RegisterEmpty");
                    } else {
                        peer.fire("RegisterNormal");
                        peer.blockParents.add(peer.id);
                    }
                    return s;
                });
                if (scope == 3) {
                    send(peer.id, AnnouncePeerResponse.newBuilder().setEmptyTaskResponse(EmptyTaskResponse.getDefaultInstance()).build());
                    return;
                }
                try {
                    send(peer.id, scheduleCandidateParents(peer, responses));
                } catch (StatusRuntimeException e) {
                    throw e.getStatus().getCode() == Status.Code.CANCELLED ? e
                            : Status.FAILED_PRECONDITION.withDescription("rpc error: code = FailedPrecondition desc = "
                                    + e.getStatus().getDescription()).asRuntimeException();
                }
            } finally {
                peer.host.concurrentRegisterCount.decrementAndGet();
            }
        }

        private void fireOrFail(PeerState p, String event, String onFailure) {
            try {
                p.fire(event);
            } catch (StatusRuntimeException e) {
                p.fire(onFailure);
                throw e;
            }
        }

        /** {@code handleDownloadPeerBackToSourceFailedRequest}. */
        private void backToSourceFailed(PeerState p) {
            p.fire("DownloadFailed");
            p.task.contentLength = -1;
            p.task.totalPieceCount = 0;
            fireTask(p.task, "DownloadFailed");
        }

        private void onPeer(String peerId, java.util.function.Consumer<PeerState> body) {
            locked(() -> {
                PeerState p = peers.get(peerId);
                if (p == null) {
                    throw notFound(peerId);
                }
                body.accept(p);
                return null;
            });
        }

        private void send(String peerId, AnnouncePeerResponse response) {
            sent.add(new Sent(peerId, response));
            responses.onNext(response);
        }

        private void end(StatusRuntimeException error) {
            ended = true;
            if (error == null) {
                responses.onCompleted();
            } else {
                responses.onError(error);
            }
        }

        @Override
        public void onError(Throwable t) {
            ended = true;
        }

        @Override
        public void onCompleted() {
            if (!ended) {
                end(null);
            }
        }
    }

    private static StatusRuntimeException notFound(String peerId) {
        return Status.NOT_FOUND.withDescription("peer " + peerId + " not found").asRuntimeException();
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
