package dev.pollen.scheduler;

import dev.pollen.proto.common.v2.Host;
import java.time.Duration;
import java.time.Instant;

/** A host as last announced. Guarded by the {@link Cluster} lock. */
final class HostRecord {
    Host host;
    Instant lastSeen;
    /** How often the host says it announces itself; zero when it did not say. */
    Duration announceInterval = Duration.ZERO;
    /** Children currently told to fetch from this host's peers, of every task: what shares its uplink. */
    int assignedChildren;

    HostRecord(Host host, Instant now) {
        this.host = host;
        this.lastSeen = now;
    }

    boolean seed() {
        return host.getType() != 0;
    }

    String idc() {
        return host.hasNetwork() ? host.getNetwork().getIdc() : "";
    }

    String location() {
        return host.hasNetwork() ? host.getNetwork().getLocation() : "";
    }

    /** The uplink as announced ({@code Network.max_tx_bandwidth}, bits per second), else {@code fallback}. */
    long uploadBitsPerSecond(long fallback) {
        long announced = host.hasNetwork() ? host.getNetwork().getMaxTxBandwidth() : 0;
        return announced > 0 ? announced : fallback;
    }

    /** Piece uploads under way or queued on the host, as it last reported ({@code upload_tcp_connection_count}). */
    int reportedUploads() {
        return host.hasNetwork() ? host.getNetwork().getUploadTcpConnectionCount() : 0;
    }
}
