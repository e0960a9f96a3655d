package dev.pollen.agent.piece;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import dev.pollen.agent.ErrorCode;
import dev.pollen.agent.PollenException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.Map;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** HTTPS origins: served with a self-signed certificate made by the JDK's keytool. */
class HttpsOriginTest {
    private static final char[] PASSWORD = "changeit".toCharArray();

    @TempDir
    Path dir;

    private HttpsServer server;
    private SSLSocketFactory previous;
    private final OriginClient client = new OriginClient(0, new Backoff(Duration.ofMillis(10)), Duration.ofSeconds(2),
            Duration.ofSeconds(5));

    @BeforeEach
    void setUp() throws Exception {
        Path keystore = dir.resolve("origin.p12");
        Process keytool = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
                "-genkeypair", "-alias", "origin", "-keyalg", "EC", "-dname", "CN=127.0.0.1", "-ext", "SAN=IP:127.0.0.1",
                "-validity", "2", "-storetype", "PKCS12", "-keystore", keystore.toString(), "-storepass", "changeit")
                .redirectErrorStream(true).start();
        assertThat(keytool.waitFor()).isZero();
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = java.nio.file.Files.newInputStream(keystore)) {
            ks.load(in, PASSWORD);
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, PASSWORD);
        SSLContext serverContext = SSLContext.getInstance("TLS");
        serverContext.init(kmf.getKeyManagers(), null, null);
        server = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.setHttpsConfigurator(new HttpsConfigurator(serverContext));
        server.createContext("/f", ex -> {
            byte[] body = "secure bytes".getBytes();
            ex.getResponseHeaders().add("Content-Range", "bytes 0-0/" + body.length);
            ex.sendResponseHeaders(206, 1);
            ex.getResponseBody().write(body, 0, 1);
            ex.close();
        });
        server.start();
        previous = HttpsURLConnection.getDefaultSSLSocketFactory();
    }

    @AfterEach
    void tearDown() {
        HttpsURLConnection.setDefaultSSLSocketFactory(previous);
        server.stop(0);
    }

    private URI uri() {
        return URI.create("https://127.0.0.1:" + server.getAddress().getPort() + "/f");
    }

    @Test
    void probesAnHttpsOriginItTrusts() throws Exception {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        try (InputStream in = java.nio.file.Files.newInputStream(dir.resolve("origin.p12"))) {
            trust.load(in, PASSWORD);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext clientContext = SSLContext.getInstance("TLS");
        clientContext.init(null, tmf.getTrustManagers(), null);
        HttpsURLConnection.setDefaultSSLSocketFactory(clientContext.getSocketFactory());

        OriginResponse response = client.probe(uri(), Map.of());
        try (InputStream body = response.body()) {
            assertThat(response.partial()).isTrue();
            assertThat(response.totalLength()).isEqualTo(12);
            assertThat(body.readAllBytes()).containsExactly('s');
        }
    }

    @Test
    void refusesAnUntrustedCertificateWithAClearError() {
        assertThatThrownBy(() -> client.probe(uri(), Map.of()))
                .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.ORIGIN_UNREACHABLE))
                .hasMessageContaining("TLS with origin " + uri() + " failed");
    }
}
