package dev.pollen.agent.config;

import dev.pollen.tls.TlsFiles;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.List;

/**
 * {@code upload.*}: what this node gives other peers: the DfdaemonUpload gRPC server (and, in {@code server} and
 * {@code client}, mutual TLS with peers, its files read again every {@code certReloadInterval} if changed), the uplink's
 * capacity ({@code bandwidth}, bits per second, 0 for unknown), the cap on the bytes per second all piece
 * uploads together may send ({@code rateLimit}, 0 for none), the upload slots — pieces sent at once
 * ({@code concurrentPieceLimit}, 0 to derive them from the capacity: {@link UploadCapacity}) — and how long
 * a request beyond them waits for one before it is answered busy ({@code slotWait}), who may make it
 * download ({@code downloadTask}) and how long one SyncPieces stream may last ({@code syncPieces}).
 */
public record UploadConfig(Server server, Client client, Duration certReloadInterval, BitRate bandwidth, ByteSize rateLimit,
                           int concurrentPieceLimit, Duration slotWait, DownloadTask downloadTask, SyncPieces syncPieces) {
    /** Longer than this, a waiting child would do better asking another parent. */
    static final Duration MAX_SLOT_WAIT = Duration.ofSeconds(10);

    public UploadConfig {
        Check.present("upload.server", server);
        Check.present("upload.client", client);
        Check.positive("upload.certReloadInterval", certReloadInterval);
        if (server.tls().isPresent() != client.tls().isPresent()) {
            throw new ConfigException("upload.server.caCert/cert/key and upload.client.caCert/cert/key: "
                    + (server.tls().isPresent() ? "only the server's" : "only the client's") + " are set (expected: both or "
                    + "neither: a node that requires certificates from its peers must show its own to them)");
        }
        Check.present("upload.bandwidth", bandwidth);
        Check.present("upload.rateLimit", rateLimit);
        Check.range("upload.concurrentPieceLimit", concurrentPieceLimit, 0, 100_000);
        Check.range("upload.slotWait", slotWait, Duration.ZERO, MAX_SLOT_WAIT);
        Check.present("upload.downloadTask", downloadTask);
        Check.present("upload.syncPieces", syncPieces);
    }

    /**
     * {@code upload.server.*}: where the DfdaemonUpload gRPC server listens; with {@code caCert}, {@code cert} and
     * {@code key} (PEM files, Dragonfly's names), it and the Vortex server accept only peers whose certificate the CA
     * signed.
     */
    public record Server(String ip, int port, String caCert, String cert, String key) {
        public Server {
            Check.present("upload.server.ip", ip);
            Check.range("upload.server.port", port, 0, 65535);
            tlsFiles("upload.server", caCert, cert, key);
        }

        public Optional<TlsFiles> tls() {
            return tlsFiles("upload.server", caCert, cert, key);
        }
    }

    /** {@code upload.client.*}: the certificate this node shows when it fetches from peers (mutual TLS), as Dragonfly's. */
    public record Client(String caCert, String cert, String key) {
        public Client {
            tlsFiles("upload.client", caCert, cert, key);
        }

        public Optional<TlsFiles> tls() {
            return tlsFiles("upload.client", caCert, cert, key);
        }
    }

    /** All three files, or none (empty); any other combination names what is missing. */
    static Optional<TlsFiles> tlsFiles(String prefix, String caCert, String cert, String key) {
        boolean ca = caCert != null && !caCert.isBlank();
        boolean c = cert != null && !cert.isBlank();
        boolean k = key != null && !key.isBlank();
        if (!ca && !c && !k) {
            return Optional.empty();
        }
        if (!(ca && c && k)) {
            throw new ConfigException(prefix + ".caCert, " + prefix + ".cert, " + prefix + ".key: " + (ca ? "" : "caCert ")
                    + (c ? "" : "cert ") + (k ? "" : "key ") + "missing (expected: all three PEM files for mutual TLS, or none)");
        }
        return Optional.of(new TlsFiles(Path.of(caCert), Path.of(cert), Path.of(key)));
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
