package dev.pollen.tls;

import io.grpc.util.AdvancedTlsX509KeyManager;
import io.grpc.util.AdvancedTlsX509TrustManager;
import io.grpc.util.CertificateUtils;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads the three PEM files into the key and trust managers, and again whenever one of them changed (its modification
 * time or size, through symlinks: a Kubernetes Secret is updated by swapping a link). Files caught half-written, or a
 * key that does not match, keep the previous credentials in use, reported once per change.
 */
final class CertificateReload {
    private static final Logger log = LoggerFactory.getLogger(CertificateReload.class);

    private final String what;
    private final TlsFiles files;
    private final AdvancedTlsX509KeyManager keys;
    private final AdvancedTlsX509TrustManager trust;
    private List<Object> loaded = List.of();
    private List<Object> failed = List.of();

    CertificateReload(String what, TlsFiles files, AdvancedTlsX509KeyManager keys, AdvancedTlsX509TrustManager trust) {
        this.what = what;
        this.files = files;
        this.keys = keys;
        this.trust = trust;
    }

    /** Reads the files; fails if they cannot be used. */
    void load() throws IOException, GeneralSecurityException {
        List<Object> state = state();
        X509Certificate[] ca = certificates(files.caCert());
        X509Certificate[] chain = certificates(files.cert());
        PrivateKey key;
        try (InputStream in = Files.newInputStream(files.key())) {
            key = CertificateUtils.getPrivateKey(in);
        }
        if (ca.length == 0 || chain.length == 0) {
            throw new GeneralSecurityException("no certificate in " + (ca.length == 0 ? files.caCert() : files.cert()));
        }
        trust.updateTrustCredentials(ca);
        keys.updateIdentityCredentials(chain, key);
        loaded = state;
    }

    /** Runs on the reloader's schedule; never throws (a failure keeps what was loaded). */
    void reloadIfChanged() {
        List<Object> now;
        try {
            now = state();
        } catch (IOException e) {
            now = List.of(e.toString());
        }
        if (now.equals(loaded) || now.equals(failed)) {
            return;
        }
        try {
            load();
            failed = List.of();
            log.info("event=tls_reloaded what={} cert={}", what, files.cert());
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            failed = now;
            log.warn("event=tls_reload_failed what={} error=\"{}\" action=\"kept the previous certificates\"", what, e.getMessage());
        }
    }

    private List<Object> state() throws IOException {
        return List.of(stamp(files.caCert()), stamp(files.cert()), stamp(files.key()));
    }

    private static String stamp(Path file) throws IOException {
        return Files.getLastModifiedTime(file) + "/" + Files.size(file);
    }

    private static X509Certificate[] certificates(Path file) throws IOException, GeneralSecurityException {
        try (InputStream in = Files.newInputStream(file)) {
            return CertificateUtils.getX509Certificates(in);
        }
    }
}
