package dev.pollen.agent.preheat;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.agent.DfdaemonCommand;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The command's failures, one line each with its exit code; the scheduler side runs in the e2e PreheatTest. */
class PreheatCommandTest {
    private final FakeRegistry registry = new FakeRegistry();
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    @TempDir
    Path home;

    @AfterEach
    void stop() {
        registry.close();
    }

    private int run(String... args) {
        PreheatCommand command = new PreheatCommand(new ByteArrayInputStream("pw-from-stdin\n".getBytes(StandardCharsets.UTF_8)),
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8), Map.of(), home);
        return new CommandLine(command).execute(args);
    }

    private String err() {
        return err.toString(StandardCharsets.UTF_8);
    }

    private String image() {
        registry.put("app", "1", RegistryClient.OCI_MANIFEST,
                ImageResolverTest.manifest(RegistryClient.OCI_MANIFEST, ImageResolverTest.CONFIG, ImageResolverTest.LAYER_1));
        return registry.authority() + "/app:1";
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Test
    void anUnreachableSchedulerIsNamedWithTheFlagItCameFrom() throws Exception {
        int port = freePort();

        int code = run("--plain-http", "--scheduler=127.0.0.1:" + port, image());

        assertThat(code).isEqualTo(PreheatCommand.SCHEDULER);
        assertThat(err()).startsWith("dfdaemon preheat: cannot reach the scheduler at 127.0.0.1:" + port + " (")
                .contains("(from --scheduler; fix: check the address and that the scheduler runs)")
                .hasLineCount(1);
        assertThat(out.toString(StandardCharsets.UTF_8)).as("the image was resolved first").contains("2 blobs");
    }

    @Test
    void theSchedulerAddressComesFromTheDaemonsConfigFile() throws Exception {
        int port = freePort();
        Path config = Files.writeString(home.resolve("dfdaemon.yaml"), "scheduler:\n  addresses: [\"127.0.0.1:" + port + "\"]\n");

        int code = run("--plain-http", "--config=" + config, image());

        assertThat(code).isEqualTo(PreheatCommand.SCHEDULER);
        assertThat(err()).contains("127.0.0.1:" + port).contains("(from scheduler.addresses of " + config);
    }

    @Test
    void noSchedulerAddressIsAUsageErrorThatSaysWhereToGiveOne() {
        assertThat(run("--plain-http", image())).isEqualTo(PreheatCommand.USAGE);
        assertThat(err()).isEqualTo("dfdaemon preheat: no scheduler address (fix: --scheduler HOST:PORT, or --config FILE with"
                + " scheduler.addresses)\n");
    }

    @Test
    void aRegistryThatWantsCredentialsSaysSoInOneLine() {
        registry.requireToken("ann", "pw");
        String image = image();

        assertThat(run("--plain-http", "--scheduler=127.0.0.1:1", image)).isEqualTo(PreheatCommand.REGISTRY);
        assertThat(err()).contains("needs credentials for app").hasLineCount(1);
    }

    @Test
    void thePasswordFromStandardInputIsUsedForTheToken() throws Exception {
        registry.requireToken("ann", "pw-from-stdin");
        String image = image();

        assertThat(run("--plain-http", "--scheduler=127.0.0.1:" + freePort(), "--username=ann", "--password-stdin", image))
                .as(err()).isEqualTo(PreheatCommand.SCHEDULER);
    }

    @Test
    void badFlagsAreUsageErrorsNamingTheFlag() {
        String image = image();
        assertThat(run("--scheduler=x:1", "--scope=everyone", image)).isEqualTo(PreheatCommand.USAGE);
        assertThat(err()).contains("--scope: everyone (expected: seed-peers, all-peers or count)");
        assertThat(run("--scheduler=x:1", "--count=0", image)).isEqualTo(PreheatCommand.USAGE);
        assertThat(run("--scheduler=x:1", "--timeout=soon", image)).isEqualTo(PreheatCommand.USAGE);
        assertThat(run("--scheduler=x:1", "--platform=linux", image)).isEqualTo(PreheatCommand.USAGE);
        assertThat(run("--scheduler=x:1", "--password=x", image)).isEqualTo(PreheatCommand.USAGE);
        assertThat(run("--scheduler=x:1", "Not/An/Image")).isEqualTo(PreheatCommand.USAGE);
        assertThat(err()).contains("--timeout: not a duration: soon").contains("invalid platform \"linux\"")
                .contains("a password without --username").contains("invalid image reference \"Not/An/Image\"");
    }

    @Test
    void isASubcommandOfDfdaemon() throws Exception {
        // picocli routes "preheat" past dfdaemon's own --key=value overrides
        int code = new CommandLine(new DfdaemonCommand()).execute("preheat", "--plain-http", "--scheduler=127.0.0.1:" + freePort(),
                registry.authority() + "/missing:1");
        assertThat(code).isEqualTo(PreheatCommand.REGISTRY);
    }
}
