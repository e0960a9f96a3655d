package dev.pollen.scheduler.client;

import com.google.protobuf.Duration;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.scheduler.v2.AnnounceHostRequest;
import dev.pollen.proto.scheduler.v2.DeleteHostRequest;
import dev.pollen.proto.scheduler.v2.SchedulerGrpc;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's side of the scheduler protocol. Scheduler addresses ({@code host:port}; a name that
 * resolves to several addresses, such as a headless Service, counts as several) are re-resolved
 * periodically and placed on a consistent-hash ring, so every node sends a task to the same
 * scheduler; one that fails is skipped for a cool-down and the next on the ring takes its tasks.
 */
public final class SchedulerClient implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SchedulerClient.class);
    private static final java.time.Duration COOL_DOWN = java.time.Duration.ofSeconds(10);
    private static final java.time.Duration CALL_TIMEOUT = java.time.Duration.ofSeconds(5);

    private final List<String> configured;
    private final Supplier<Host> host;
    private final java.time.Duration announceInterval;
    private final Clock clock;
    private final Map<String, ManagedChannel> channels = new ConcurrentHashMap<>();
    private final Map<String, Instant> downUntil = new ConcurrentHashMap<>();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("scheduler-client").daemon().factory());
    private volatile SchedulerRing ring;

    public SchedulerClient(List<String> addresses, Supplier<Host> host, java.time.Duration announceInterval, Clock clock) {
        if (addresses.isEmpty()) {
            throw new IllegalArgumentException("no scheduler addresses");
        }
        this.configured = List.copyOf(addresses);
        this.host = host;
        this.announceInterval = announceInterval;
        this.clock = clock;
        this.ring = new SchedulerRing(resolve());
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

    /** Registers a download with the task's scheduler, failing over along the ring. */
    public Registration register(String taskId, String peerId, Download download, java.time.Duration timeout)
            throws SchedulerUnavailableException {
        SchedulerUnavailableException last = null;
        for (String address : ring.candidates(taskId)) {
            if (isDown(address)) {
                continue;
            }
            PeerSession session = new PeerSession(channel(address), address, host.get().getId(), taskId, peerId);
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

    /** A registered peer and the scheduler's first answer. */
    public record Registration(PeerSession session, Decision decision) {
    }

    private void announceAll() {
        Host h = host.get();
        for (String address : ring.addresses()) {
            try {
                SchedulerGrpc.newBlockingStub(channel(address)).withDeadlineAfter(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
                        .announceHost(AnnounceHostRequest.newBuilder().setHost(h)
                                .setInterval(Duration.newBuilder().setSeconds(announceInterval.toSeconds())).build());
                if (downUntil.remove(address) != null) {
                    log.info("event=scheduler_back address={}", address);
                }
            } catch (StatusRuntimeException e) {
                markDown(address, e.getStatus().getCode() + ": " + e.getStatus().getDescription());
            }
        }
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
        return channels.computeIfAbsent(address, a -> NettyChannelBuilder.forTarget(a).usePlaintext().build());
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
