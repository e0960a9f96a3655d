package dev.pollen.agent.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The keys of {@code upload.downloadTask} and {@code upload.syncPieces}: defaults, layers and refusals. */
class UploadConfigTest {
    private final ConfigLoader loader = new ConfigLoader();

    @TempDir
    Path dir;

    @Test
    void byDefaultOnlySeedsServeDownloadTaskOnlyToTheirSchedulersAndNeverForMetadataAddresses() {
        UploadConfig upload = loader.load(null, Map.of(), Map.of()).upload();
        assertThat(upload.downloadTask().acceptPreheat()).isFalse();
        assertThat(upload.downloadTask().allowedClients()).isEmpty();
        assertThat(upload.downloadTask().deniedOrigins()).extracting(Cidr::toString)
                .containsExactly("169.254.0.0/16", "fe80:0:0:0:0:0:0:0/10", "fd00:ec2:0:0:0:0:0:254", "100.100.100.200");
        assertThat(upload.syncPieces().maxAge()).isEqualTo(Duration.ofHours(1));
    }

    @Test
    void listsComeFromTheFileOrCommaSeparatedFromFlagsAndVariables() throws Exception {
        Path file = dir.resolve("dfdaemon.yaml");
        Files.writeString(file, """
                upload:
                  downloadTask:
                    acceptPreheat: true
                    allowedClients: [10.8.0.0/16]
                """);
        UploadConfig.DownloadTask fromFile = loader.load(file, Map.of(), Map.of()).upload().downloadTask();
        assertThat(fromFile.acceptPreheat()).isTrue();
        assertThat(fromFile.allowedClients()).containsExactly(Cidr.parse("10.8.0.0/16"));

        UploadConfig.DownloadTask layered = loader.load(file,
                Map.of("DFDAEMON_UPLOAD_DOWNLOADTASK_DENIEDORIGINS", "169.254.0.0/16, 127.0.0.0/8"),
                Map.of("upload.downloadTask.allowedClients", "10.9.0.0/16,192.0.2.7")).upload().downloadTask();
        assertThat(layered.allowedClients()).containsExactly(Cidr.parse("10.9.0.0/16"), Cidr.parse("192.0.2.7"));
        assertThat(layered.deniedOrigins()).containsExactly(Cidr.parse("169.254.0.0/16"), Cidr.parse("127.0.0.0/8"));
    }

    @Test
    void refusesWhatIsNotAnAddressOrBlockNamingTheKey() {
        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("upload.downloadTask.deniedOrigins", "169.254.0.0/33")))
                .isInstanceOf(ConfigException.class)
                .hasMessage("upload.downloadTask.deniedOrigins: 169.254.0.0/33 (expected: an IP address or CIDR block"
                        + " such as 10.0.0.0/8 or fd00:ec2::254)");
        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("upload.downloadTask.allowedClients", "scheduler.pollen")))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("upload.downloadTask.allowedClients: scheduler.pollen (expected: ");
    }

    @Test
    void refusesAStreamAgeThatIsNotPositive() {
        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("upload.syncPieces.maxAge", "0s")))
                .isInstanceOf(ConfigException.class)
                .hasMessage("upload.syncPieces.maxAge: 0ms (expected: a positive duration such as 30s)");
    }

    @Test
    void mutualTlsIsOffByDefaultAndNeedsAllThreeFilesOnBothSides() {
        DaemonConfig plain = loader.load(null, Map.of(), Map.of());
        assertThat(plain.upload().server().tls()).isEmpty();
        assertThat(plain.upload().client().tls()).isEmpty();
        assertThat(plain.scheduler().tls()).isFalse();
        assertThat(plain.upload().certReloadInterval()).isEqualTo(Duration.ofMinutes(1));

        Map<String, String> both = Map.of("upload.server.caCert", "/ca.pem", "upload.server.cert", "/n.pem", "upload.server.key", "/k.pem",
                "upload.client.caCert", "/ca.pem", "upload.client.cert", "/n.pem", "upload.client.key", "/k.pem", "scheduler.tls", "true");
        DaemonConfig tls = loader.load(null, Map.of(), both);
        assertThat(tls.upload().server().tls()).get().extracting(f -> f.cert().toString()).isEqualTo("/n.pem");
        assertThat(tls.scheduler().tls()).isTrue();

        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("upload.server.caCert", "/ca.pem", "upload.server.cert", "/n.pem")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("upload.server.key").hasMessageContaining("key missing");
        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("upload.server.caCert", "/ca.pem", "upload.server.cert", "/n.pem",
                "upload.server.key", "/k.pem"))).isInstanceOf(ConfigException.class).hasMessageContaining("only the server's");
        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("scheduler.tls", "true")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("scheduler.tls").hasMessageContaining("upload.client");
        assertThatThrownBy(() -> loader.load(null, Map.of(), Map.of("upload.certReloadInterval", "0s")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("upload.certReloadInterval");
    }
}
