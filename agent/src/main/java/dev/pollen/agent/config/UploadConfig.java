package dev.pollen.agent.config;

import java.time.Duration;
import java.util.List;

/**
 * {@code upload.*}: what this node gives other peers: the DfdaemonUpload gRPC server, the cap on the
 * bytes per second all piece uploads together may send ({@code rateLimit}, 0 for none) and on the pieces
 * sent at once ({@code concurrentPieceLimit}, 0 for none; more requests wait their turn), who may make
 * it download ({@code downloadTask}) and how long one SyncPieces stream may last ({@code syncPieces}).
 */
public record UploadConfig(Server server, ByteSize rateLimit, int concurrentPieceLimit, DownloadTask downloadTask,
                           SyncPieces syncPieces) {
    public UploadConfig {
        Check.present("upload.server", server);
        Check.present("upload.rateLimit", rateLimit);
        Check.range("upload.concurrentPieceLimit", concurrentPieceLimit, 0, 100_000);
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
