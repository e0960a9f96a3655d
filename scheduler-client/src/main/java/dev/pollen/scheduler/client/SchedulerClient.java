package dev.pollen.scheduler.client;

import com.google.protobuf.Duration;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.scheduler.v2.AnnounceHostRequest;
import dev.pollen.proto.scheduler.v2.DeleteHostRequest;
import dev.pollen.proto.scheduler.v2.SchedulerGrpc;
import dev.pollen.proto.scheduler.v2.StatPeerRequest;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ConnectivityState;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import dev.pollen.tls.MutualTls;
import java.net.InetAddress;
import java.net.SocketAddress;
import java.net.UnknownHostException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's side of the scheduler protocol. Scheduler addresses ({@code host:port}; a name that
 * resolves to several addresses, such as a headless Service, counts as several) are re-resolved
 * periodically and placed on a consistent-hash ring, so every node sends a task to the same
 * scheduler; one that fails is skipped for a cool-down and the next on the ring takes its tasks.
 *
 * <p>A scheduler keeps everything in memory: one that restarts has forgotten this host's finished peers, and
 * peers find nothing of what this node holds. After each announcement the client asks itself whether that
 * scheduler may have lost this host's state — it is new to this process, it was down, the connection to it was
 * lost, a peer stream to it broke as a lost connection does, or this host missed announcements long enough to be
 * expired — and if so asks the scheduler (StatPeer) for one peer it holds as finished. NOT_FOUND (or no such peer
 * to ask about) calls the {@link Forgetting} listener once, which announces what the node holds again. Only a
 * suspicion costs a StatPeer: a steady connection costs nothing beyond the announcement.
 */
public final class SchedulerClient implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SchedulerClient.class);
    private static final java.time.Duration COOL_DOWN = java.time.Duration.ofSeconds(10);
    private static final java.time.Duration CALL_TIMEOUT = java.time.Duration.ofSeconds(5);
    /** Announcements a host may miss before a scheduler may have expired it (Dragonfly's host GC: 2). */
    private static final int MISSED_ANNOUNCEMENTS = 2;

    private final List<String> configured;
    private final Supplier<Host> host;
    private final java.time.Duration announceInterval;
    private final Clock clock;
    private final MutualTls tls;
    private final Map<String, ManagedChannel> channels = new ConcurrentHashMap<>();
    private final Map<String, Instant> downUntil = new ConcurrentHashMap<>();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("scheduler-client").daemon().factory());
    private final Map<String, View> views = new ConcurrentHashMap<>();
    private volatile SchedulerRing ring;
    private volatile Forgetting forgetting = (scheduler, why) -> { };

    /** Told when a scheduler does not (or may not) know this host's finished peers. */
    @FunctionalInterface
    public interface Forgetting {
        /**
         * @param scheduler the scheduler's address, as {@link #ownerOf} names it
         * @param why {@code first_contact}, or the suspicion ({@code scheduler_back}, {@code reconnected},
         *     {@code stream_lost}, {@code announce_gap}) and what StatPeer found
         */
        void forgot(String scheduler, String why);

        /**
         * These tasks finished here while their peer's stream to {@code scheduler} was broken (it restarted
         * mid-download): it never heard they did. Called at the first announcement it answers since, unless
         * {@link #forgot} is called for it then (which covers them).
         */
        default void forgotTasks(String scheduler, Set<String> taskIds) {
        }
    }

    /** What this host knows of one scheduler's view of it. Non-volatile fields are the announcing thread's. */
    private static final class View {
        /** A peer that finished on the scheduler, kept until the scheduler is found to have lost it. */
        final AtomicReference<String> witness = new AtomicReference<>();
        /** Tasks that finished while their stream to it was broken. */
        final Set<String> unheard = ConcurrentHashMap.newKeySet();
        /** A peer stream to it broke as a lost connection does (UNAVAILABLE). */
        volatile boolean streamLost;
        /** Whether the scheduler answered the last announcement; false when it failed or never was one (read by {@link #connected}). */
        volatile boolean announced;
        boolean everAnnounced;
        /** The connection the last announcement went over. */
        SocketAddress connection;
        Instant lastAnnounced;
        /** A suspicion StatPeer could not settle (the call failed): asked again at the next announcement. */
        String unsettled;
        /** Announcements it answered so far (read by other threads: see {@link SchedulerClient#announcements}). */
        final java.util.concurrent.atomic.AtomicLong answered = new java.util.concurrent.atomic.AtomicLong();
    }

    public SchedulerClient(List<String> addresses, Supplier<Host> host, java.time.Duration announceInterval, Clock clock) {
        this(addresses, host, announceInterval, clock, null);
    }

    /** @param tls this node's certificate for schedulers that require mutual TLS, or null for plaintext */
    public SchedulerClient(List<String> addresses, Supplier<Host> host, java.time.Duration announceInterval, Clock clock, MutualTls tls) {
        if (addresses.isEmpty()) {
            throw new IllegalArgumentException("no scheduler addresses");
        }
        this.configured = List.copyOf(addresses);
        this.host = host;
        this.announceInterval = announceInterval;
        this.clock = clock;
        this.tls = tls;
        this.ring = new SchedulerRing(resolve());
    }

    /** Set before {@link #start}: what to do when a scheduler has forgotten this host's finished peers. */
    public void onForgetting(Forgetting listener) {
        this.forgetting = listener;
    }

    /** Announces the host now and then every interval; re-resolves the scheduler names on the same beat. */
    public void start() {
        announceAll();
        long every = announceInterval.toMillis();
        timer.scheduleWithFixedDelay(() -> {
            ring = new SchedulerRing(resolve());
            announceAll();
        }, every, every, TimeUnit.MILLISECONDS);
    }

    /** Whether a scheduler of the ring answered this host's last announcement to it (pollen_scheduler_connected). */
    public boolean connected() {
        for (String address : ring.addresses()) {
            View view = views.get(address);
            if (view != null && view.announced) {
                return true;
            }
        }
        return false;
    }

    /** Registers a download with the task's scheduler, failing over along the ring. */
    public Registration register(String taskId, String peerId, Download download, java.time.Duration timeout)
            throws SchedulerUnavailableException {
        SchedulerUnavailableException last = null;
        for (String address : ring.candidates(taskId)) {
            if (isDown(address)) {
                continue;
            }
            PeerSession session = session(address, taskId, peerId);
            try {
                return new Registration(session, session.register(download, timeout));
            } catch (SchedulerUnavailableException e) {
                session.close();
                markDown(address, e.getMessage());
                last = e;
            }
        }
        throw last != null ? last : new SchedulerUnavailableException("every scheduler (" + String.join(", ", ring.addresses())
                + ") failed within the last " + COOL_DOWN.toSeconds() + " s", null);
    }

    /**
     * How many announcements {@code scheduler} has answered so far. A peer whose stream to it broke registers again
     * only after the count moved on: a scheduler that restarted knows this host only once it was announced again
     * (before, Pollen's answers a registration with the origin, and Dragonfly's with NOT_FOUND).
     */
    public long announcements(String scheduler) {
        return view(scheduler).answered.get();
    }

    /** A registered peer and the scheduler's first answer. */
    public record Registration(PeerSession session, Decision decision) {
    }

    /** The scheduler a task registers with now: its owner on the ring, or the next one up; null when none is. */
    public String ownerOf(String taskId) {
        return ring.owner(taskId, a -> !isDown(a));
    }

    /**
     * Announces a task this host holds in full to {@code scheduler} under a new peer id (see
     * {@link PeerSession#announceHeld}), and leaves the stream; the scheduler keeps the peer as a finished parent.
     */
    public void announceHeld(String scheduler, String taskId, String peerId, Download download, java.time.Duration timeout)
            throws SchedulerUnavailableException {
        try (PeerSession session = session(scheduler, taskId, peerId)) {
            session.announceHeld(download, timeout);
        }
    }

    private PeerSession session(String address, String taskId, String peerId) {
        View view = view(address);
        return new PeerSession(channel(address), address, host.get().getId(), taskId, peerId, new PeerSession.Events() {
            @Override
            public void finished(String scheduler, String peer) {
                view.witness.compareAndSet(null, peer);
            }

            @Override
            public void lost(String scheduler) {
                view.streamLost = true;
            }

            @Override
            public void finishedUnheard(String scheduler, String task) {
                view.unheard.add(task);
            }
        });
    }

    private void announceAll() {
        Host h = host.get();
        for (String address : ring.addresses()) {
            View view = view(address);
            boolean wasDown = downUntil.containsKey(address);
            ManagedChannel channel = channel(address);
            if (channel.getState(false) == ConnectivityState.TRANSIENT_FAILURE) {
                // gRPC waits longer after each failed connect (up to 2 minutes): a scheduler that is back must be
                // found at the next announcement, not minutes later, and registrations must not fail fast meanwhile.
                channel.resetConnectBackoff();
            }
            ConnectionSeen connection = new ConnectionSeen();
            try {
                SchedulerGrpc.newBlockingStub(channel).withInterceptors(connection).withDeadlineAfter(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
                        .announceHost(AnnounceHostRequest.newBuilder().setHost(h)
                                .setInterval(Duration.newBuilder().setSeconds(announceInterval.toSeconds())
                                        .setNanos(announceInterval.toNanosPart())).build());
                if (downUntil.remove(address) != null) {
                    log.info("event=scheduler_back address={}", address);
                }
            } catch (StatusRuntimeException e) {
                view.announced = false;
                markDown(address, e.getStatus().getCode() + ": " + e.getStatus().getDescription());
                continue;
            }
            checkView(address, view, wasDown, connection.local);
            view.answered.incrementAndGet();
        }
    }

    /** After a successful announcement: whether the scheduler may have lost this host, and if so whether it did. */
    private void checkView(String address, View view, boolean wasDown, SocketAddress connection) {
        Instant now = clock.instant();
        String suspicion = suspicion(view, wasDown, now, connection);
        view.announced = true;
        view.everAnnounced = true;
        view.lastAnnounced = now;
        view.connection = connection;
        view.streamLost = false;
        Set<String> unheard = Set.copyOf(view.unheard);
        view.unheard.removeAll(unheard);
        if (!checkSuspicion(address, view, suspicion) && !unheard.isEmpty()) {
            log.info("event=scheduler_missed_finish address={} tasks={}", address, unheard.size());
            try {
                forgetting.forgotTasks(address, unheard);
            } catch (RuntimeException e) {
                log.warn("event=forgetting_listener_failed address={} error=\"{}\"", address, e.toString());
            }
        }
    }

    /** Settles a suspicion: true when the scheduler was found to have forgotten this host (the listener was told). */
    private boolean checkSuspicion(String address, View view, String suspicion) {
        if (suspicion == null) {
            return false;
        }
        String witness = view.witness.get();
        if (suspicion.equals("first_contact") || witness == null) {
            view.unsettled = null;
            forgot(address, suspicion);
            return true;
        }
        try {
            SchedulerGrpc.newBlockingStub(channel(address)).withDeadlineAfter(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
                    .statPeer(StatPeerRequest.newBuilder().setHostId(host.get().getId()).setTaskId("").setPeerId(witness).build());
            view.unsettled = null;
            log.debug("event=scheduler_remembers address={} suspicion={} peer={}", address, suspicion, witness);
            return false;
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == Status.Code.NOT_FOUND) {
                view.unsettled = null;
                view.witness.compareAndSet(witness, null);
                forgot(address, suspicion + "+peer_not_found");
                return true;
            }
            view.unsettled = suspicion;
            log.debug("event=scheduler_stat_peer_failed address={} status={}", address, e.getStatus());
            return false;
        }
    }

    /** Why the scheduler may have lost this host since the last announcement, null when nothing suggests it. */
    private String suspicion(View view, boolean wasDown, Instant now, SocketAddress connection) {
        if (!view.everAnnounced) {
            return "first_contact";
        }
        if (wasDown || !view.announced) {
            return "scheduler_back";
        }
        if (connection != null && !connection.equals(view.connection)) {
            return "reconnected";
        }
        if (view.streamLost) {
            return "stream_lost";
        }
        // Dragonfly's scheduler expires a host silent for 2 of its announce intervals (Pollen's, 3): a host that
        // stalled (paused, starved) that long may be gone from its view although the connection held.
        if (view.lastAnnounced != null && now.isAfter(view.lastAnnounced.plus(announceInterval.multipliedBy(MISSED_ANNOUNCEMENTS)))) {
            return "announce_gap";
        }
        return view.unsettled;
    }

    private void forgot(String address, String why) {
        log.info("event=scheduler_forgot_host address={} reason={}", address, why);
        try {
            forgetting.forgot(address, why);
        } catch (RuntimeException e) {
            log.warn("event=forgetting_listener_failed address={} error=\"{}\"", address, e.toString());
        }
    }

    private View view(String address) {
        return views.computeIfAbsent(address, a -> new View());
    }

    private boolean isDown(String address) {
        Instant until = downUntil.get(address);
        return until != null && clock.instant().isBefore(until);
    }

    private void markDown(String address, String why) {
        if (downUntil.put(address, clock.instant().plus(COOL_DOWN)) == null) {
            log.warn("event=scheduler_unavailable address={} cause=\"{}\"", address, why);
        }
    }

    private List<String> resolve() {
        List<String> resolved = new ArrayList<>();
        for (String address : configured) {
            int colon = address.lastIndexOf(':');
            String name = colon < 0 ? address : address.substring(0, colon);
            String port = colon < 0 ? "8002" : address.substring(colon + 1);
            try {
                for (InetAddress a : InetAddress.getAllByName(name)) {
                    resolved.add(a.getHostAddress() + ":" + port);
                }
            } catch (UnknownHostException e) {
                log.warn("event=scheduler_unresolved name={} cause=\"{}\"", name, e.getMessage());
            }
        }
        return resolved.isEmpty() ? (ring == null ? configured : List.copyOf(ring.addresses())) : resolved;
    }

    private ManagedChannel channel(String address) {
        return channels.computeIfAbsent(address, a -> SchedulerChannels.open(a, tls));
    }

    /**
     * Remembers which connection a call went over (its local socket address): a scheduler that restarts between two
     * announcements shows as a new connection, however quickly gRPC reconnected.
     */
    private static final class ConnectionSeen implements ClientInterceptor {
        private volatile SocketAddress local;

        @Override
        public <Q, A> ClientCall<Q, A> interceptCall(MethodDescriptor<Q, A> method, CallOptions options, Channel next) {
            ClientCall<Q, A> call = next.newCall(method, options);
            return new ForwardingClientCall.SimpleForwardingClientCall<>(call) {
                @Override
                public void start(Listener<A> listener, Metadata headers) {
                    super.start(new ForwardingClientCallListener.SimpleForwardingClientCallListener<>(listener) {
                        @Override
                        public void onHeaders(Metadata h) {
                            local = call.getAttributes().get(Grpc.TRANSPORT_ATTR_LOCAL_ADDR);
                            super.onHeaders(h);
                        }
                    }, headers);
                }
            };
        }
    }

    /** Leaves every scheduler (DeleteHost), then closes the connections. */
    @Override
    public void close() {
        timer.shutdownNow();
        String hostId = host.get().getId();
        for (String address : ring.addresses()) {
            try {
                SchedulerGrpc.newBlockingStub(channel(address)).withDeadlineAfter(2, TimeUnit.SECONDS)
                        .deleteHost(DeleteHostRequest.newBuilder().setHostId(hostId).build());
            } catch (StatusRuntimeException e) {
                log.debug("event=delete_host_failed address={} cause=\"{}\"", address, e.getStatus());
            }
        }
        channels.values().forEach(ManagedChannel::shutdownNow);
    }
}
