package dev.pollen.agent.origin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.config.CaCertificates;
import dev.pollen.agent.config.ConfigException;
import dev.pollen.agent.config.ConfigLoader;
import dev.pollen.agent.config.DaemonConfig;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** HTTPS origins: served with a self-signed certificate made by the JDK's keytool. */
class HttpsOriginTest {
    private static final char[] PASSWORD = "changeit".toCharArray();

    /** The certificate is made once for the class: each keytool run is a JVM start. */
    @TempDir
    static Path keys;

    @TempDir
    Path dir;

    private static Path keystore;
    private static Path pem;
    private HttpsServer server;
    private TestOrigin plain;

    @BeforeAll
    static void makeCertificate() throws Exception {
        keystore = keys.resolve("origin.p12");
        pem = keys.resolve("origin.pem");
        keytool("-genkeypair", "-alias", "origin", "-keyalg", "EC", "-dname", "CN=127.0.0.1", "-ext", "SAN=IP:127.0.0.1",
                "-validity", "2", "-storetype", "PKCS12", "-keystore", keystore.toString(), "-storepass", "changeit");
        keytool("-exportcert", "-rfc", "-alias", "origin", "-keystore", keystore.toString(), "-storepass", "changeit",
                "-file", pem.toString());
    }

    @BeforeEach
    void setUp() throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(keystore)) {
            ks.load(in, PASSWORD);
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, PASSWORD);
        SSLContext serverContext = SSLContext.getInstance("TLS");
        serverContext.init(kmf.getKeyManagers(), null, null);
        plain = new TestOrigin();
        plain.serve("/f", "plain bytes".getBytes());
        server = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.setHttpsConfigurator(new HttpsConfigurator(serverContext));
        server.createContext("/f", ex -> {
            byte[] body = "secure bytes".getBytes();
            ex.getResponseHeaders().add("Content-Range", "bytes 0-0/" + body.length);
            ex.sendResponseHeaders(206, 1);
            ex.getResponseBody().write(body, 0, 1);
            ex.close();
        });
        server.createContext("/to-plain", ex -> {
            ex.getResponseHeaders().add("Location", plain.url("/f"));
            ex.sendResponseHeaders(302, -1);
            ex.close();
        });
        server.start();
    }

    private static void keytool(String... args) throws Exception {
        List<String> command = new java.util.ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "keytool").toString()));
        command.addAll(List.of(args));
        Process keytool = new ProcessBuilder(command).redirectErrorStream(true).start();
        keytool.getInputStream().transferTo(java.io.OutputStream.nullOutputStream());
        assertThat(keytool.waitFor()).isZero();
    }

    @AfterEach
    void tearDown() {
        server.stop(0);
        plain.close();
    }

    private URI uri(String path) {
        return URI.create("https://127.0.0.1:" + server.getAddress().getPort() + path);
    }

    private OriginClient client(List<Path> caCerts) {
        return new OriginClient(0, new Backoff(Duration.ofMillis(10)), Duration.ofSeconds(2), Duration.ofSeconds(5),
                CaCertificates.readAll("download.backToSource.caCerts", caCerts), OriginPolicy.ALLOW_ALL);
    }

    @Test
    void probesAnHttpsOriginWhoseCaIsConfigured() throws Exception {
        try (OriginClient client = client(List.of(pem))) {
            OriginResponse response = client.probe(uri("/f"), Map.of());
            try (InputStream body = response.body()) {
                assertThat(response.partial()).isTrue();
                assertThat(response.totalLength()).isEqualTo(12);
                assertThat(body.readAllBytes()).containsExactly('s');
            }
        }
    }

    @Test
    void refusesAnUntrustedCertificateWithAClearError() {
        try (OriginClient client = client(List.of())) {
            assertThatThrownBy(() -> client.probe(uri("/f"), Map.of()))
                    .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.ORIGIN_UNREACHABLE))
                    .hasMessageContaining("TLS with origin " + uri("/f") + " failed")
                    .hasMessageContaining("download.backToSource.caCerts");
        }
    }

    @Test
    void refusesARedirectFromHttpsToPlainHttpNamingBothUrls() {
        try (OriginClient client = client(List.of(pem))) {
            assertThatThrownBy(() -> client.probe(uri("/to-plain"), Map.of("Authorization", "Bearer t0k")))
                    .isInstanceOfSatisfying(PollenException.class, e -> {
                        assertThat(e.code()).isEqualTo(ErrorCode.ORIGIN_STATUS);
                        assertThat(e.originStatus()).isEqualTo(302);
                    })
                    .hasMessageContaining(uri("/to-plain").toString())
                    .hasMessageContaining(plain.url("/f"))
                    .hasMessageContaining("plain http is refused");
        }
        assertThat(plain.requestHeaders()).isEmpty();
    }

    @Test
    void theCaFilesComeFromTheConfigAndABadOneStopsTheStartNamingTheKey() throws Exception {
        ConfigLoader loader = new ConfigLoader();
        DaemonConfig config = loader.load(null, Map.of(), Map.of("download.backToSource.caCerts", pem.toString()));
        assertThat(config.download().backToSource().caCerts()).containsExactly(pem);
        try (OriginClient client = new OriginClient(config.download())) {
            try (InputStream body = client.probe(uri("/f"), Map.of()).body()) {
                assertThat(body.readAllBytes()).containsExactly('s');
            }
        }
        Path garbage = Files.writeString(dir.resolve("garbage.pem"), "not a certificate");
        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("download.backToSource.caCerts", garbage.toString())))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("download.backToSource.caCerts: " + garbage);
        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("download.backToSource.caCerts", dir.resolve("missing.pem").toString())))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("download.backToSource.caCerts: " + dir.resolve("missing.pem"));
    }
}
