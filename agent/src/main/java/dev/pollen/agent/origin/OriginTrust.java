package dev.pollen.agent.origin;

import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/**
 * The certificates an HTTPS origin is verified against: the JVM's trust store (the system's, or the
 * one named by {@code javax.net.ssl.trustStore}) plus the CA certificates of
 * {@code download.backToSource.caCerts}. Host names are verified as usual; nothing is ever trusted blindly.
 * {@code dfdaemon preheat} reaches registries with the same trust.
 */
public final class OriginTrust {
    private OriginTrust() {
    }

    public static SSLContext context(List<X509Certificate> extraCas) {
        try {
            if (extraCas.isEmpty()) {
                return SSLContext.getDefault();
            }
            KeyStore anchors = KeyStore.getInstance(KeyStore.getDefaultType());
            anchors.load(null, null);
            int n = 0;
            for (X509Certificate ca : systemAnchors()) {
                anchors.setCertificateEntry("system-" + n++, ca);
            }
            for (X509Certificate ca : extraCas) {
                anchors.setCertificateEntry("configured-" + n++, ca);
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(anchors);
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, tmf.getTrustManagers(), null);
            return context;
        } catch (GeneralSecurityException | java.io.IOException e) {
            throw new IllegalStateException("cannot set up TLS for origins: " + e, e);
        }
    }

    private static X509Certificate[] systemAnchors() throws GeneralSecurityException {
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init((KeyStore) null);
        for (var tm : tmf.getTrustManagers()) {
            if (tm instanceof X509TrustManager x509) {
                return x509.getAcceptedIssuers();
            }
        }
        return new X509Certificate[0];
    }
}
