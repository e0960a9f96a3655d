package dev.pollen.tls;

import java.net.Socket;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * A trust manager that reports each certificate it refuses ({@link TlsRefusals}, once per certificate and reason),
 * naming the certificate's subject and issuer: an engine on the server side does not know its peer's address.
 */
final class RefusalLoggingTrustManager extends X509ExtendedTrustManager {
    private final X509ExtendedTrustManager delegate;
    private final TlsRefusals refusals;

    RefusalLoggingTrustManager(X509ExtendedTrustManager delegate, TlsRefusals refusals) {
        this.delegate = delegate;
        this.refusals = refusals;
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        check("server", chain, () -> delegate.checkClientTrusted(chain, authType, socket));
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        check("server", chain, () -> delegate.checkClientTrusted(chain, authType, engine));
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        check("server", chain, () -> delegate.checkClientTrusted(chain, authType));
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        check("client", chain, () -> delegate.checkServerTrusted(chain, authType, socket));
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        check("client", chain, () -> delegate.checkServerTrusted(chain, authType, engine));
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        check("client", chain, () -> delegate.checkServerTrusted(chain, authType));
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return delegate.getAcceptedIssuers();
    }

    private interface Check {
        void run() throws CertificateException;
    }

    private void check(String side, X509Certificate[] chain, Check check) throws CertificateException {
        try {
            check.run();
        } catch (CertificateException e) {
            String who = chain == null || chain.length == 0 ? "no certificate"
                    : chain[0].getSubjectX500Principal().getName() + " issued by " + chain[0].getIssuerX500Principal().getName();
            refusals.refused(side, who, String.valueOf(e.getMessage()));
            throw e;
        }
    }
}
