package dev.pollen.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.e2e.registry.Commands;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The systemd units of packaging/systemd, checked by {@code systemd-analyze verify} as installed on a plain host:
 * a root holding the distribution's own units (the targets ours name), ours in /etc/systemd/system and /opt/pollen
 * unpacked from the installed-layout tarball, so the launcher each ExecStart= names must be in it. systemd is not
 * PID 1 here: nothing is started.
 */
class SystemdUnitTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    @TempDir
    Path root;

    @ParameterizedTest
    @ValueSource(strings = {"pollen-dfdaemon.service", "pollen-scheduler.service"})
    void theUnitVerifiesWithoutAWarningAgainstTheInstalledLayout(String unit) throws IOException {
        installUnit(unit);
        unpackInstalledLayout();

        Commands.Result result = verify(unit);

        assertThat(result.exit()).as(result.toString()).isZero();
        assertThat(result.out() + result.err()).as("systemd-analyze's warnings (unknown keys, bad values)").isEmpty();
    }

    @Test
    void aLauncherMissingFromTheLayoutFailsTheCheck() throws IOException {
        installUnit("pollen-dfdaemon.service");

        Commands.Result result = verify("pollen-dfdaemon.service");

        assertThat(result.exit()).isNotZero();
        assertThat(result.err()).contains("/opt/pollen/bin/dfdaemon");
    }

    private void installUnit(String unit) throws IOException {
        Path systemUnits = root.resolve("usr/lib/systemd");
        Files.createDirectories(systemUnits);
        Commands.check(TIMEOUT, List.of("cp", "-a", "/usr/lib/systemd/system", systemUnits.toString()));
        Path etc = Files.createDirectories(root.resolve("etc/systemd/system"));
        Files.copy(Pollen.home().resolve("packaging/systemd").resolve(unit), etc.resolve(unit));
    }

    private void unpackInstalledLayout() throws IOException {
        Path tarball = Pollen.home().resolve("image/target/pollen.tar.gz");
        assertThat(tarball).as("the installed layout (fix: ./mvnw -pl image package)").exists();
        Path opt = Files.createDirectories(root.resolve("opt"));
        Commands.check(TIMEOUT, List.of("tar", "-xzf", tarball.toString(), "-C", opt.toString()));
    }

    private Commands.Result verify(String unit) {
        return Commands.run(TIMEOUT, List.of(Commands.binary("systemd-analyze", "systemd"), "verify", "--root=" + root, unit));
    }
}
