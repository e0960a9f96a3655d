package dev.pollen.agent.preheat;

import dev.pollen.tls.TlsFiles;
import io.netty.handler.ssl.NotSslRecordException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Locale;
import java.util.Optional;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * Why a scheduler could not be reached when the cause is TLS, as one line with the fix: a scheduler under mutual TLS
 * and a preheat without {@code scheduler.tls}, or the other way round, or a certificate one side did not accept.
 * gRPC reports them all as UNAVAILABLE, like a scheduler that is down.
 */
final class SchedulerTlsFailure {
    private static final int PROBE_TIMEOUT_MILLIS = 3000;
    private static final String CLIENT_KEYS = "upload.client.caCert/cert/key";

    private SchedulerTlsFailure() {
    }

    /**
     * @param client the files this preheat shows the scheduler ({@code scheduler.tls}), or null: it spoke plaintext
     * @return the line, or empty when TLS is not why {@code failure} happened
     */
    static Optional<String> explain(String address, Throwable failure, TlsFiles client) {
        if (client == null) {
            return speaksTls(address) ? Optional.of("the scheduler at " + address + " requires mutual TLS and this preheat has "
                    + "no client certificate configured (fix: scheduler.tls: true with " + CLIENT_KEYS + ", in --config FILE or "
                    + "as --scheduler.tls=true --upload.client.caCert=... flags, as the daemons have)") : Optional.empty();
        }
        for (Throwable c = failure; c != null; c = c.getCause()) {
            if (c instanceof NotSslRecordException) {
                return Optional.of("the scheduler at " + address + " does not speak TLS, and scheduler.tls is on (fix: start the "
                        + "scheduler with --tls-ca-cert, --tls-cert and --tls-key, or scheduler.tls: false)");
            }
            if (c instanceof CertificateException) {
                return Optional.of("the scheduler at " + address + " showed a certificate that upload.client.caCert ("
                        + client.caCert() + ") did not sign: " + c.getMessage() + " (fix: upload.client.caCert must be the CA "
                        + "that signed the scheduler's --tls-cert)");
            }
            if (c instanceof SSLException && String.valueOf(c.getMessage()).toLowerCase(Locale.ROOT).contains("alert")) {
                return Optional.of("the scheduler at " + address + " rejected this node's certificate " + client.cert() + ": "
                        + c.getMessage() + " (fix: upload.client.cert and .key signed by the CA of the scheduler's "
                        + "--tls-ca-cert, and not expired)");
            }
        }
        return Optional.empty();
    }

    /**
     * Whether {@code address} answers a TLS handshake: it completes (the scheduler asks for a client certificate but
     * refuses a call without one later), or ends with an alert, which only TLS sends. A plaintext gRPC server answers
     * with HTTP/2 bytes that are no TLS record. Nothing is sent after the handshake, so its certificate is not checked.
     */
    private static boolean speaksTls(String address) {
        int colon = address.lastIndexOf(':');
        try {
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, new TrustManager[] {new AnyCertificate()}, null);
            try (Socket plain = new Socket()) {
                plain.connect(new InetSocketAddress(address.substring(0, colon), Integer.parseInt(address.substring(colon + 1))),
                        PROBE_TIMEOUT_MILLIS);
                plain.setSoTimeout(PROBE_TIMEOUT_MILLIS);
                try (SSLSocket tls = (SSLSocket) context.getSocketFactory().createSocket(plain, address, plain.getPort(), false)) {
                    tls.startHandshake();
                    return true;
                }
            }
        } catch (SSLException e) {
            return String.valueOf(e.getMessage()).toLowerCase(Locale.ROOT).contains("alert");
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            return false;
        }
    }

    /** For the probe only: it asks whether the server speaks TLS, not whom to trust, and sends nothing over it. */
    private static final class AnyCertificate implements X509TrustManager {
        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) {
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
