package dev.pollen.agent.config;

/** {@code upload.*}: the DfdaemonUpload gRPC server other peers and the scheduler call. */
public record UploadConfig(Server server) {
    public UploadConfig {
        Check.present("upload.server", server);
    }

    public record Server(String ip, int port) {
        public Server {
            Check.present("upload.server.ip", ip);
            Check.range("upload.server.port", port, 0, 65535);
        }
    }
}
