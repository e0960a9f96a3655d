package dev.pollen.agent.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/** {@code download.*}: the local API server and how pieces are fetched. */
public record DownloadConfig(Server server, int concurrentPieceCount, Duration pieceTimeout, BackToSource backToSource) {
    public DownloadConfig {
        Check.present("download.server", server);
        Check.range("download.concurrentPieceCount", concurrentPieceCount, 1, 64);
        Check.positive("download.pieceTimeout", pieceTimeout);
        Check.present("download.backToSource", backToSource);
    }

    /** {@code download.server.*}: the Unix domain socket that dfget and other local clients use. */
    public record Server(Path socketPath, String socketMode, Duration shutdownGracePeriod) {
        public Server {
            Check.present("download.server.socketPath", socketPath);
            if (!socketPath.isAbsolute()) {
                throw ConfigException.invalid("download.server.socketPath", socketPath, "an absolute path");
            }
            Check.present("download.server.socketMode", socketMode);
            int mode = SocketMode.parse("download.server.socketMode", socketMode);
            if ((mode & 0002) != 0) {
                throw ConfigException.invalid("download.server.socketMode", socketMode,
                        "an octal mode that is not world-writable, such as 0660");
            }
            Check.positive("download.server.shutdownGracePeriod", shutdownGracePeriod);
        }

        public int socketModeBits() {
            return SocketMode.parse("download.server.socketMode", socketMode);
        }
    }

    /**
     * {@code download.backToSource.*} (Pollen): requests to the origin.
     *
     * @param caCerts PEM files of CA certificates trusted for HTTPS origins besides the JVM's trust store
     *     (Dragonfly's dfdaemon has no key for this: it takes an origin's certificate chain per request);
     *     each is read here, so a bad file stops the start-up with an error naming the key
     */
    public record BackToSource(int retries, Duration retryBackoff, Duration connectTimeout, List<Path> caCerts) {
        public BackToSource {
            Check.range("download.backToSource.retries", retries, 0, 100);
            Check.positive("download.backToSource.retryBackoff", retryBackoff);
            Check.positive("download.backToSource.connectTimeout", connectTimeout);
            caCerts = List.copyOf(Check.present("download.backToSource.caCerts", caCerts));
            CaCertificates.readAll("download.backToSource.caCerts", caCerts);
        }
    }
}
