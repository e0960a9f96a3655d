package dev.pollen.agent.preheat;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.tls.TlsFiles;
import io.grpc.Status;
import io.netty.handler.ssl.NotSslRecordException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Path;
import java.security.cert.CertificateException;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.Test;

/** Which failures are TLS's and the line each gets; the handshakes themselves run in the e2e PreheatTest. */
class SchedulerTlsFailureTest {
    private static final TlsFiles FILES = new TlsFiles(Path.of("/etc/pollen/ca.pem"), Path.of("/etc/pollen/node.pem"),
            Path.of("/etc/pollen/node-key.pem"));

    private static Throwable unavailable(Throwable cause) {
        return Status.UNAVAILABLE.withDescription("io exception").withCause(cause).asRuntimeException();
    }

    @Test
    void aPlaintextSchedulerUnderSchedulerTlsIsNamedWithBothFixes() {
        assertThat(SchedulerTlsFailure.explain("10.0.0.1:8002", unavailable(new NotSslRecordException("not an SSL/TLS record")), FILES))
                .hasValue("the scheduler at 10.0.0.1:8002 does not speak TLS, and scheduler.tls is on (fix: start the scheduler "
                        + "with --tls-ca-cert, --tls-cert and --tls-key, or scheduler.tls: false)");
    }

    @Test
    void aSchedulerCertificateOurCaDidNotSignNamesTheCaFile() {
        Throwable refused = new SSLHandshakeException("PKIX path validation failed");
        refused.initCause(new CertificateException("CN=scheduler issued by CN=other-ca"));

        assertThat(SchedulerTlsFailure.explain("10.0.0.1:8002", unavailable(refused), FILES)).hasValueSatisfying(line -> assertThat(line)
                .startsWith("the scheduler at 10.0.0.1:8002 showed a certificate that upload.client.caCert (/etc/pollen/ca.pem) "
                        + "did not sign: CN=scheduler issued by CN=other-ca"));
    }

    @Test
    void anAlertFromTheSchedulerIsItsRejectionOfOurCertificate() {
        assertThat(SchedulerTlsFailure.explain("10.0.0.1:8002", unavailable(new SSLHandshakeException("Received fatal alert: bad_certificate")),
                FILES)).hasValueSatisfying(line -> assertThat(line).startsWith("the scheduler at 10.0.0.1:8002 rejected this node's "
                        + "certificate /etc/pollen/node.pem: Received fatal alert: bad_certificate (fix: "));
    }

    @Test
    void aSchedulerThatIsDownIsNoTlsFailure() {
        assertThat(SchedulerTlsFailure.explain("127.0.0.1:1", unavailable(new ConnectException("Connection refused")), FILES)).isEmpty();
        assertThat(SchedulerTlsFailure.explain("127.0.0.1:1", unavailable(new ConnectException("Connection refused")), null)).isEmpty();
    }

    @Test
    void aPlaintextCallToAPlaintextServerThatFailedIsNoTlsFailure() throws Exception {
        try (ServerSocket plaintext = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            // A plaintext gRPC server's answer to a ClientHello: an HTTP/2 SETTINGS frame, then GOAWAY and close.
            Thread server = Thread.ofVirtual().start(() -> {
                try (Socket s = plaintext.accept()) {
                    s.getOutputStream().write(new byte[] {0, 0, 0, 4, 0, 0, 0, 0, 0});
                    s.getOutputStream().flush();
                } catch (IOException e) {
                    // the probe went away first: nothing to answer
                }
            });
            assertThat(SchedulerTlsFailure.explain("127.0.0.1:" + plaintext.getLocalPort(), unavailable(new RuntimeException("closed")),
                    null)).as("a TLS handshake with an HTTP/2 server").isEmpty();
            server.join();
        }
    }
}
