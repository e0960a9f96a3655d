package dev.pollen.e2e.registry;

import dev.pollen.e2e.ChildProcesses;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The real programs the registry fixtures run (docker-registry, skopeo, containerd, ctr, htpasswd): where they
 * are, and short runs of them with their output captured. A missing program fails the test with the command
 * that installs it; it never skips the test.
 */
public final class Commands {
    private static final List<String> DIRS = List.of("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin");

    private Commands() {
    }

    /** How a command ended. */
    public record Result(List<String> command, int exit, String out, String err) {
        public boolean succeeded() {
            return exit == 0;
        }

        /** stdout and stderr together, for matching error messages. */
        public String output() {
            return out + err;
        }

        /** The command, its exit code and the last lines of its output (ctr's progress repeats itself). */
        @Override
        public String toString() {
            List<String> lines = (out + err).strip().lines().toList();
            return String.join(" ", command) + " -> exit " + exit + "\n"
                    + String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        }
    }

    /** The absolute path of {@code name}, which Debian's {@code debianPackage} installs. */
    public static String binary(String name, String debianPackage) {
        for (String dir : DIRS) {
            Path candidate = Path.of(dir, name);
            if (Files.isExecutable(candidate)) {
                return candidate.toString();
            }
        }
        throw new AssertionError(name + " is not installed, and the registry tests run the real one"
                + " (fix: sudo apt-get install -y " + debianPackage + ", or run bin/test as root, which installs it)");
    }

    /** Runs {@code command} to its end (killed after {@code timeout}) and returns how it ended. */
    public static Result run(Duration timeout, List<String> command) {
        Path out = null;
        Path err = null;
        try {
            out = Files.createTempFile("pollen-e2e-cmd-", ".out");
            err = Files.createTempFile("pollen-e2e-cmd-", ".err");
            Process p = ChildProcesses.track(new ProcessBuilder(command)
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile())
                    .start());
            if (!ChildProcesses.awaitExit(p, timeout)) {
                ChildProcesses.kill(p);
                throw new AssertionError(String.join(" ", command) + " did not finish within " + timeout.toSeconds()
                        + " s:\n" + Files.readString(out) + Files.readString(err));
            }
            return new Result(List.copyOf(command), p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + command, e);
        } finally {
            deleteQuietly(out);
            deleteQuietly(err);
        }
    }

    /** Like {@link #run} and fails unless the command exits 0. */
    public static Result check(Duration timeout, List<String> command) {
        Result result = run(timeout, command);
        if (!result.succeeded()) {
            throw new AssertionError(result.toString());
        }
        return result;
    }

    private static void deleteQuietly(Path file) {
        try {
            if (file != null) {
                Files.deleteIfExists(file);
            }
        } catch (IOException ignored) {
            // a temp file left behind is harmless
        }
    }
}
