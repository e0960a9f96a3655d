package dev.pollen.agent.setup;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import dev.pollen.agent.DfdaemonCommand;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class ContainerdConfigCommandTest {
    private static final String V2_OK = """
            version = 2
            [plugins."io.containerd.grpc.v1.cri".registry]
              config_path = "%s"
            """;

    @TempDir
    Path tmp;
    Path certs;
    Path config;

    record Run(int code, String out, String err) {
    }

    @BeforeEach
    void containerdConfigThatReadsCertsD() throws IOException {
        certs = tmp.resolve("certs.d");
        config = tmp.resolve("config.toml");
        Files.writeString(config, V2_OK.formatted(certs));
    }

    private Run run(String... args) {
        List<String> all = new ArrayList<>(List.of("containerd-config", "--certs-dir", certs.toString(),
                "--containerd-config", config.toString()));
        all.addAll(List.of(args));
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        // Through dfdaemon itself: the subcommand must be reachable past dfdaemon's own --key=value flags.
        CommandLine cl = new CommandLine(new DfdaemonCommand());
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(all.toArray(String[]::new));
        return new Run(code, out.toString(), err.toString());
    }

    private static JsonNode toml(Path file) throws IOException {
        return new TomlMapper().readTree(Files.readAllBytes(file));
    }

    private static List<String> hostOrder(Path file) throws IOException {
        List<String> hosts = new ArrayList<>();
        toml(file).path("host").fieldNames().forEachRemaining(hosts::add);
        return hosts;
    }

    /** Every file under the tree, by relative path, with its bytes. */
    private Map<String, String> snapshot() throws IOException {
        Map<String, String> files = new TreeMap<>();
        if (!Files.exists(certs)) {
            return files;
        }
        try (Stream<Path> all = Files.walk(certs)) {
            for (Path p : all.filter(Files::isRegularFile).toList()) {
                files.put(certs.relativize(p).toString(), Files.readString(p));
            }
        }
        return files;
    }

    @Test
    void writesAFreshHostsTomlPerRegistryAndDefaultWithTheMirrorFirst() throws IOException {
        Run r = run("--registry", "docker.io", "--registry", "ghcr.io,127.0.0.1:5000", "--plain-http", "127.0.0.1:5000");

        assertThat(r.code()).as(r.err()).isZero();
        assertThat(Files.readString(certs.resolve("docker.io/hosts.toml"))).isEqualTo("""
                # Written by Pollen (dfdaemon containerd-config).
                # There was no hosts.toml here before; --uninstall removes this one.
                server = "https://registry-1.docker.io"

                [host."http://127.0.0.1:4001"]
                capabilities = ["pull", "resolve"]
                dial_timeout = "500ms"
                """);
        assertThat(toml(certs.resolve("ghcr.io/hosts.toml")).path("server").asText()).isEqualTo("https://ghcr.io");
        assertThat(toml(certs.resolve("127.0.0.1:5000/hosts.toml")).path("server").asText()).isEqualTo("http://127.0.0.1:5000");
        // _default has no server: containerd then falls back to whichever registry was asked for.
        assertThat(toml(certs.resolve("_default/hosts.toml")).has("server")).isFalse();
        assertThat(hostOrder(certs.resolve("_default/hosts.toml"))).containsExactly("http://127.0.0.1:4001");
        assertThat(Files.getPosixFilePermissions(certs.resolve("docker.io/hosts.toml")))
                .isEqualTo(java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        assertThat(r.out()).contains("created " + certs.resolve("docker.io/hosts.toml"))
                .contains("no restart needed (this command never restarts containerd)");
        assertThat(snapshot().keySet()).noneMatch(name -> name.contains("pollen-backup") || name.contains(".tmp"));
    }

    @Test
    void mergesWithAnExistingFileKeepingItsHostsCaTlsSettingsAndServer() throws IOException {
        Path file = certs.resolve("registry.example.com/hosts.toml");
        Files.createDirectories(file.getParent());
        String original = """
                # the team's registry, with a corporate CA
                server = "https://registry.example.com"
                ca = "/etc/certs/corp-ca.pem"
                skip_verify = false
                client = [["/etc/certs/client.cert", "/etc/certs/client.key"]]

                [header]
                x-team = ["a \\"quoted\\" value", "two"]

                [host."https://cache.example.com:5000"]
                capabilities = ["pull"]
                ca = ["/etc/certs/cache-ca.pem"]
                skip_verify = true
                override_path = true

                [host."https://cache.example.com:5000".header]
                authorization = "Basic Zm9vOmJhcg=="

                [host."https://second.example.com"]
                """;
        Files.writeString(file, original);

        Run r = run("--registry", "registry.example.com");

        assertThat(r.code()).as(r.err()).isZero();
        assertThat(Files.readString(file.resolveSibling("hosts.toml.pollen-backup"))).isEqualTo(original);
        JsonNode merged = toml(file);
        assertThat(merged.path("server").asText()).isEqualTo("https://registry.example.com");
        assertThat(merged.path("ca").asText()).isEqualTo("/etc/certs/corp-ca.pem");
        assertThat(merged.path("skip_verify").asBoolean(true)).isFalse();
        assertThat(merged.path("client").get(0).get(1).asText()).isEqualTo("/etc/certs/client.key");
        assertThat(merged.path("header").path("x-team").get(0).asText()).isEqualTo("a \"quoted\" value");
        assertThat(hostOrder(file)).containsExactly("http://127.0.0.1:4001", "https://cache.example.com:5000", "https://second.example.com");
        JsonNode cache = merged.path("host").path("https://cache.example.com:5000");
        assertThat(cache.path("skip_verify").asBoolean()).isTrue();
        assertThat(cache.path("override_path").asBoolean()).isTrue();
        assertThat(cache.path("ca").get(0).asText()).isEqualTo("/etc/certs/cache-ca.pem");
        assertThat(cache.path("header").path("authorization").asText()).isEqualTo("Basic Zm9vOmJhcg==");
        assertThat(merged.path("host").path("https://second.example.com").isObject()).isTrue();
        // containerd orders hosts by their table headers: the mirror's must come first in the text.
        String text = Files.readString(file);
        assertThat(text.indexOf("[host.\"http://127.0.0.1:4001\"]"))
                .isPositive().isLessThan(text.indexOf("[host.\"https://cache.example.com:5000\"]"));
        assertThat(r.out()).contains("updated " + file);
    }

    @Test
    void runningTwiceGivesByteIdenticalFilesAndNoSecondBackup() throws IOException {
        Path file = certs.resolve("docker.io/hosts.toml");
        Files.createDirectories(file.getParent());
        Files.writeString(file, "server = \"https://mirror.gcr.io\"\n");
        assertThat(run("--registry", "docker.io,ghcr.io").code()).isZero();
        Map<String, String> first = snapshot();

        Run again = run("--registry", "docker.io,ghcr.io");

        assertThat(again.code()).isZero();
        assertThat(snapshot()).isEqualTo(first);
        assertThat(first.keySet()).containsExactlyInAnyOrder("docker.io/hosts.toml", "docker.io/hosts.toml.pollen-backup",
                "ghcr.io/hosts.toml", "_default/hosts.toml");
        assertThat(first.get("docker.io/hosts.toml.pollen-backup")).isEqualTo("server = \"https://mirror.gcr.io\"\n");
        assertThat(again.out()).contains("unchanged " + file);
    }

    @Test
    void aChangedMirrorReplacesTheOldOneInsteadOfAddingASecond() throws IOException {
        run("--registry", "docker.io");

        assertThat(run("--registry", "docker.io", "--mirror", "http://10.0.0.7:4001/", "--dial-timeout", "1s").code()).isZero();

        Path file = certs.resolve("docker.io/hosts.toml");
        assertThat(hostOrder(file)).containsExactly("http://10.0.0.7:4001");
        assertThat(toml(file).path("host").path("http://10.0.0.7:4001").path("dial_timeout").asText()).isEqualTo("1s");
        assertThat(run("--registry", "docker.io").out()).contains("rewrote " + file + " (Pollen had created it)");
    }

    @Test
    void uninstallRestoresTheOriginalByteForByteAndLeavesOtherRegistriesAlone() throws IOException {
        Path file = certs.resolve("docker.io/hosts.toml");
        Path users = certs.resolve("quay.io/hosts.toml");
        Files.createDirectories(file.getParent());
        Files.createDirectories(users.getParent());
        byte[] original = "# keep me\nserver = 'https://mirror.gcr.io'   # literal string, odd spacing\n".getBytes(StandardCharsets.UTF_8);
        Files.write(file, original);
        Files.writeString(users, "server = \"https://quay.io\"\n");
        run("--registry", "docker.io,ghcr.io");

        Run r = run("--uninstall");

        assertThat(r.code()).as(r.err()).isZero();
        assertThat(Files.readAllBytes(file)).isEqualTo(original);
        assertThat(snapshot()).containsOnlyKeys("docker.io/hosts.toml", "quay.io/hosts.toml");
        assertThat(Files.readString(users)).isEqualTo("server = \"https://quay.io\"\n");
        // The directories Pollen created are gone with their files.
        assertThat(certs.resolve("ghcr.io")).doesNotExist();
        assertThat(certs.resolve("_default")).doesNotExist();
        assertThat(r.out()).contains("restored " + file).contains("removed " + certs.resolve("ghcr.io/hosts.toml"));
    }

    @Test
    void uninstallOfOneRegistryTouchesOnlyItAndDefault() throws IOException {
        run("--registry", "docker.io,ghcr.io");

        assertThat(run("--uninstall", "--registry", "ghcr.io").code()).isZero();

        assertThat(snapshot()).containsOnlyKeys("docker.io/hosts.toml");
    }

    @Test
    void uninstallKeepsADirectoryThatHoldsTheUsersCertificates() throws IOException {
        Files.createDirectories(certs.resolve("ghcr.io"));
        Files.writeString(certs.resolve("ghcr.io/ca.crt"), "pem");
        run("--registry", "ghcr.io");

        run("--uninstall");

        assertThat(snapshot()).containsOnlyKeys("ghcr.io/ca.crt");
    }

    @Test
    void aConfigWithoutConfigPathFailsNamingTheFileAndTheLineToAdd() throws IOException {
        Files.writeString(config, "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  snapshotter = \"overlayfs\"\n");

        Run r = run("--registry", "docker.io");

        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).isEqualTo("dfdaemon containerd-config: " + config + " does not set config_path, so containerd's CRI plugin ignores "
                + certs + " (fix: add the line config_path = \"" + certs + "\" under [plugins.\"io.containerd.grpc.v1.cri\".registry],"
                + " then restart containerd once)" + System.lineSeparator());
        // The files are in place for when the config is fixed.
        assertThat(certs.resolve("docker.io/hosts.toml")).exists();
    }

    @Test
    void aVersion3ConfigIsReadAtTheCriImagesPlugin() throws IOException {
        Files.writeString(config, "version = 3\n[plugins.'io.containerd.cri.v1.images'.registry]\nconfig_path = '" + certs + "'\n");
        assertThat(run().code()).isZero();

        Files.writeString(config, "version = 3\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\nconfig_path = '" + certs + "'\n");
        Run r = run();

        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("under [plugins.\"io.containerd.cri.v1.images\".registry]");
    }

    @Test
    void aConfigPathListIncludingTheCertsDirIsEnough() throws IOException {
        Files.writeString(config, V2_OK.formatted("/etc/docker/certs.d:" + certs + "/"));

        assertThat(run().code()).isZero();
    }

    @Test
    void aConfigPathElsewhereFailsAndNamesTheDirectoryToUse() throws IOException {
        Files.writeString(config, V2_OK.formatted("/etc/other/certs.d"));

        Run r = run();

        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains(config + " sets config_path = \"/etc/other/certs.d\", which does not include " + certs)
                .contains("--certs-dir /etc/other/certs.d");
    }

    @Test
    void aConfigPathInAnImportedFileCounts() throws IOException {
        Files.createDirectories(tmp.resolve("conf.d"));
        Files.writeString(tmp.resolve("conf.d/10-registry.toml"), V2_OK.formatted(certs));
        Files.writeString(config, "version = 2\nimports = [\"conf.d/*.toml\"]\n");

        assertThat(run().code()).isZero();
    }

    @Test
    void discardUnpackedLayersIsWarnedAboutWithWhatItCosts() throws IOException {
        Files.writeString(config, V2_OK.formatted(certs)
                + "[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  discard_unpacked_layers = true\n");

        Run r = run();

        assertThat(r.code()).isZero();
        assertThat(r.err()).startsWith("dfdaemon containerd-config: warning: " + config + " sets discard_unpacked_layers = true")
                .contains("fetches it again through the mirror");
    }

    @Test
    void oldStyleRegistryMirrorsFailBecauseContainerdRefusesThemWithConfigPath() throws IOException {
        Files.writeString(config, V2_OK.formatted(certs)
                + "[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\n  endpoint = [\"https://mirror.gcr.io\"]\n");

        Run r = run();

        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("sets [plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors]")
                .contains("its CRI plugin then does not load");
    }

    @Test
    void aMissingContainerdConfigIsReportedWithWhatToCreate() throws IOException {
        Files.delete(config);

        Run r = run();

        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains(config + " does not exist")
                .contains("version = 2, [plugins.\"io.containerd.grpc.v1.cri\".registry], config_path = \"" + certs + "\"");
    }

    @Test
    void anExistingFileThatIsNotTomlStopsTheRunBeforeAnyWrite() throws IOException {
        Path file = certs.resolve("ghcr.io/hosts.toml");
        Files.createDirectories(file.getParent());
        Files.writeString(file, "server = \"https://ghcr.io\"\n[host.\"https://x\"\ncapabilities = [\"pull\"]\n");

        Run r = run("--registry", "docker.io,ghcr.io");

        assertThat(r.code()).isEqualTo(3);
        assertThat(r.err()).startsWith("dfdaemon containerd-config: " + file + " is not valid TOML")
                .contains("at line 2").contains("(fix: correct or remove that file, then run this again)");
        assertThat(snapshot()).containsOnlyKeys("ghcr.io/hosts.toml");
    }

    @Test
    void anUnwritableCertsDirIsAClearError() throws IOException {
        // Tests run as root, whom permission bits do not stop: a file where the directory should be does.
        Files.writeString(certs, "not a directory");

        Run r = run("--registry", "docker.io");

        assertThat(r.code()).isEqualTo(3);
        assertThat(r.err()).isEqualTo("dfdaemon containerd-config: cannot read " + certs.resolve("docker.io/hosts.toml")
                + ": Not a directory (fix: make --certs-dir name a writable directory, the one containerd's config_path names)"
                + System.lineSeparator());
        assertThat(Files.readString(certs)).isEqualTo("not a directory");
    }

    @Test
    void badFlagsAreUsageErrorsThatWriteNothing() throws IOException {
        assertThat(run("--registry", "https://docker.io").err()).contains("--registry https://docker.io: not a registry host");
        assertThat(run("--mirror", "127.0.0.1:4001").code()).isEqualTo(2);
        assertThat(run("--dial-timeout", "500").code()).isEqualTo(2);
        assertThat(run("--plain-http", "ghcr.io").err()).contains("(fix: add --registry ghcr.io)");
        assertThat(snapshot()).isEmpty();
    }
}
