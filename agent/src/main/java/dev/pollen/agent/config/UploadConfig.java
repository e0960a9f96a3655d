package dev.pollen.agent.config;

/**
 * {@code upload.*}: what this node gives other peers: the DfdaemonUpload gRPC server, the cap on the
 * bytes per second all piece uploads together may send ({@code rateLimit}, 0 for none) and on the pieces
 * sent at once ({@code concurrentPieceLimit}, 0 for none; more requests wait their turn).
 */
public record UploadConfig(Server server, ByteSize rateLimit, int concurrentPieceLimit) {
    public UploadConfig {
        Check.present("upload.server", server);
        Check.present("upload.rateLimit", rateLimit);
        Check.range("upload.concurrentPieceLimit", concurrentPieceLimit, 0, 100_000);
    }

    public record Server(String ip, int port) {
        public Server {
            Check.present("upload.server.ip", ip);
            Check.range("upload.server.port", port, 0, 65535);
        }
    }
}
