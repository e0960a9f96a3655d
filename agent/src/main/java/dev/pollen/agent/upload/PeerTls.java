package dev.pollen.agent.upload;

import dev.pollen.agent.config.SchedulerConfig;
import dev.pollen.agent.config.UploadConfig;
import dev.pollen.tls.MutualTls;
import dev.pollen.tls.TlsFiles;
import dev.pollen.tls.TlsRefusals;
import java.io.IOException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Mutual TLS between peers ({@code upload.server.*} and {@code upload.client.*}): the server side for the upload gRPC
 * and Vortex servers, the client side for this node's requests to parents; both null when TLS is off. The files are
 * read again on a thread of their own when they change.
 */
public final class PeerTls implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(PeerTls.class);

    private final MutualTls server;
    private final MutualTls client;
    private final ScheduledExecutorService reloader;

    private PeerTls(MutualTls server, MutualTls client, ScheduledExecutorService reloader) {
        this.server = server;
        this.client = client;
        this.reloader = reloader;
    }

    /** Reads the certificates now; a file that cannot be used fails the start, naming its key. */
    public static PeerTls load(UploadConfig upload) throws IOException {
        if (upload.server().tls().isEmpty()) {
            return new PeerTls(null, null, null);
        }
        TlsFiles serverFiles = upload.server().tls().get();
        TlsFiles clientFiles = upload.client().tls().orElseThrow();
        ScheduledExecutorService reloader = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().name("tls-reload").daemon().factory());
        TlsRefusals refusals = new TlsRefusals();
        try {
            MutualTls server = MutualTls.load("upload.server.caCert/cert/key", serverFiles, upload.certReloadInterval(), reloader, refusals);
            MutualTls client = MutualTls.load("upload.client.caCert/cert/key", clientFiles, upload.certReloadInterval(), reloader, refusals);
            log.info("event=peer_tls mode=mutual provider={} ca={} cert={} client_cert={} reload_every={}", MutualTls.provider(),
                    serverFiles.caCert(), serverFiles.cert(), clientFiles.cert(), upload.certReloadInterval());
            return new PeerTls(server, client, reloader);
        } catch (IOException | RuntimeException e) {
            reloader.shutdownNow();
            throw e;
        }
    }

    /** For the upload gRPC and Vortex servers, or null (plaintext). */
    public MutualTls server() {
        return server;
    }

    /** For requests to parents, or null (plaintext). */
    public MutualTls client() {
        return client;
    }

    /**
     * For connections to the schedulers (the daemon's and {@code dfdaemon preheat}'s): {@code upload.client}'s
     * certificate with {@code scheduler.tls}, else null (plaintext).
     */
    public MutualTls scheduler(SchedulerConfig scheduler) {
        return scheduler.tls() ? client : null;
    }

    @Override
    public void close() {
        if (reloader != null) {
            server.close();
            client.close();
            reloader.shutdownNow();
        }
    }
}
