package dev.pollen.agent.config;

import java.time.Duration;
import java.util.List;

/**
 * {@code upload.*}: what this node gives other peers: the DfdaemonUpload gRPC server, the uplink's
 * capacity ({@code bandwidth}, bits per second, 0 for unknown), the cap on the bytes per second all piece
 * uploads together may send ({@code rateLimit}, 0 for none), the upload slots — pieces sent at once
 * ({@code concurrentPieceLimit}, 0 to derive them from the capacity: {@link UploadCapacity}) — and how long
 * a request beyond them waits for one before it is answered busy ({@code slotWait}), who may make it
 * download ({@code downloadTask}) and how long one SyncPieces stream may last ({@code syncPieces}).
 */
public record UploadConfig(Server server, BitRate bandwidth, ByteSize rateLimit, int concurrentPieceLimit,
                           Duration slotWait, DownloadTask downloadTask, SyncPieces syncPieces) {
    /** Longer than this, a waiting child would do better asking another parent. */
    static final Duration MAX_SLOT_WAIT = Duration.ofSeconds(10);

    public UploadConfig {
        Check.present("upload.server", server);
        Check.present("upload.bandwidth", bandwidth);
        Check.present("upload.rateLimit", rateLimit);
        Check.range("upload.concurrentPieceLimit", concurrentPieceLimit, 0, 100_000);
        Check.range("upload.slotWait", slotWait, Duration.ZERO, MAX_SLOT_WAIT);
        Check.present("upload.downloadTask", downloadTask);
        Check.present("upload.syncPieces", syncPieces);
    }

    public record Server(String ip, int port) {
        public Server {
            Check.present("upload.server.ip", ip);
            Check.range("upload.server.port", port, 0, 65535);
        }
    }

    /**
     * {@code upload.downloadTask.*}: DfdaemonUpload.DownloadTask makes this node fetch a URL for someone
     * else. It is served only to the schedulers of {@code scheduler.addresses} and the callers in
     * {@code allowedClients}; on a node that is not a seed peer only when {@code acceptPreheat} is true
     * (the scheduler's preheat of all peers); and never for an origin in {@code deniedOrigins}.
     */
    public record DownloadTask(boolean acceptPreheat, List<Cidr> allowedClients, List<Cidr> deniedOrigins) {
        public DownloadTask {
            allowedClients = List.copyOf(Check.present("upload.downloadTask.allowedClients", allowedClients));
            deniedOrigins = List.copyOf(Check.present("upload.downloadTask.deniedOrigins", deniedOrigins));
        }
    }

    /** {@code upload.syncPieces.maxAge}: a stream ends after this long, so a child that hangs gives its task back. */
    public record SyncPieces(Duration maxAge) {
        public SyncPieces {
            Check.positive("upload.syncPieces.maxAge", maxAge);
        }
    }
}
