package dev.pollen.agent.config;

/**
 * {@code upload.*}: what this node gives other peers: the DfdaemonUpload gRPC server, and the cap on the
 * bytes per second all piece uploads together may send ({@code rateLimit}, 0 for none).
 */
public record UploadConfig(Server server, ByteSize rateLimit) {
    public UploadConfig {
        Check.present("upload.server", server);
        Check.present("upload.rateLimit", rateLimit);
    }

    public record Server(String ip, int port) {
        public Server {
            Check.present("upload.server.ip", ip);
            Check.range("upload.server.port", port, 0, 65535);
        }
    }
}
