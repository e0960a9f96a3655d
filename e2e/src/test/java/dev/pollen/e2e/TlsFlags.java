package dev.pollen.e2e;

import dev.pollen.tls.TlsFiles;
import java.util.ArrayList;
import java.util.List;

/** dfdaemon's flags for mutual TLS with one set of files (the README's example: the same files on both sides). */
final class TlsFlags {
    private TlsFlags() {
    }

    /** Between peers: {@code upload.server.*} and {@code upload.client.*}, reloaded every 500 ms. */
    static String[] peers(TlsFiles files) {
        return new String[] {"--upload.server.caCert=" + files.caCert(), "--upload.server.cert=" + files.cert(),
                "--upload.server.key=" + files.key(), "--upload.client.caCert=" + files.caCert(),
                "--upload.client.cert=" + files.cert(), "--upload.client.key=" + files.key(), "--upload.certReloadInterval=500ms"};
    }

    /** Between peers and with the schedulers ({@code scheduler.tls}), then {@code more}. */
    static String[] withScheduler(TlsFiles files, String... more) {
        List<String> flags = new ArrayList<>(List.of(peers(files)));
        flags.add("--scheduler.tls=true");
        flags.addAll(List.of(more));
        return flags.toArray(String[]::new);
    }
}
