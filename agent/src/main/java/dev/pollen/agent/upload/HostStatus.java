package dev.pollen.agent.upload;

import com.sun.management.OperatingSystemMXBean;
import dev.pollen.agent.upload.vortex.VortexServerStats;
import dev.pollen.proto.common.v2.CPU;
import dev.pollen.proto.common.v2.Disk;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Memory;
import dev.pollen.proto.common.v2.Network;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * This host as the scheduler and other peers see it: the fixed identity (id, ports, seed type, idc,
 * location, what it runs) with its load as of now: CPU, memory, the storage disk and the uploads under way. Sent by
 * AnnounceHost and streamed by SyncHost, so both say the same thing.
 *
 * <p>Uploads, in Dragonfly's fields: {@code network.max_tx_bandwidth} is the upload capacity in bits per second
 * (0: unknown), {@code network.tx_bandwidth} the bits per second uploaded over the last few seconds, and
 * {@code network.upload_tcp_connection_count} the pieces being uploaded plus the requests waiting for a slot.
 */
public final class HostStatus implements Supplier<Host> {
    private final Host identity;
    private final Path storageDir;
    private final VortexServerStats uploads;
    private final long maxTxBitsPerSecond;
    private final OperatingSystemMXBean os = (OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

    /**
     * @param identity the fields that do not change while the daemon runs; what the host runs (os, kernel,
     *     build: {@link HostPlatform}) is filled in where left empty
     * @param maxTxBitsPerSecond the upload capacity ({@code UploadCapacity}), 0 when unknown
     */
    public HostStatus(Host identity, Path storageDir, VortexServerStats uploads, long maxTxBitsPerSecond) {
        this.identity = HostPlatform.current().fill(identity);
        this.storageDir = storageDir;
        this.uploads = uploads;
        this.maxTxBitsPerSecond = maxTxBitsPerSecond;
    }

    @Override
    public Host get() {
        Host.Builder b = identity.toBuilder();
        b.setCpu(CPU.newBuilder().setLogicalCount(Runtime.getRuntime().availableProcessors())
                .setPercent(percent(os.getCpuLoad())).setProcessPercent(percent(os.getProcessCpuLoad())));
        long total = os.getTotalMemorySize();
        long free = os.getFreeMemorySize();
        b.setMemory(Memory.newBuilder().setTotal(total).setFree(free).setAvailable(free).setUsed(total - free)
                .setUsedPercent(total == 0 ? 0 : 100.0 * (total - free) / total));
        b.setNetwork(identity.getNetwork().toBuilder()
                .setUploadTcpConnectionCount(uploads.uploading() + uploads.waiting())
                .setMaxTxBandwidth(maxTxBitsPerSecond)
                .setTxBandwidth(uploads.bytesPerSecond() * 8));
        disk().ifPresent(b::setDisk);
        return b.build();
    }

    private Optional<Disk> disk() {
        try {
            FileStore store = Files.getFileStore(Files.exists(storageDir) ? storageDir : storageDir.toAbsolutePath().getRoot());
            long total = store.getTotalSpace();
            long free = store.getUsableSpace();
            return Optional.of(Disk.newBuilder().setTotal(total).setFree(free).setUsed(total - free)
                    .setUsedPercent(total == 0 ? 0 : 100.0 * (total - free) / total).build());
        } catch (IOException e) {
            // A disk that cannot be stat'ed is left out of this report; the next one tries again.
            return Optional.empty();
        }
    }

    private static double percent(double load) {
        return load < 0 ? 0 : load * 100;
    }
}
