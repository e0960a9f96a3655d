package dev.pollen.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs {@code bin/dfget} as a separate process against one socket. Its stdout and stderr go to files (never
 * a pipe that could fill up), and a run that outlasts its timeout is killed by PID and fails the test.
 */
public final class Dfget {
    static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(120);
    private static final Pattern SUMMARY = Pattern.compile(
            "downloaded (\\S+ \\S+) in .*: origin (\\S+ \\S+), peers (\\S+ \\S+), local cache (\\S+ \\S+)");
    private static final Pattern SIZE = Pattern.compile("(\\d+(?:\\.\\d+)?) (B|KiB|MiB|GiB|TiB)");

    /** What one dfget run did. */
    public record Result(List<String> args, int exitCode, String stdout, String stderr, Duration took) {
        /**
         * Where the bytes came from, from the summary line on stderr
         * ({@code downloaded 256.0 MiB in 3.10s (...): origin X, peers Y, local cache Z}); fails if there is none.
         */
        public Summary summary() {
            Matcher m = SUMMARY.matcher(stderr);
            if (!m.find()) {
                throw new AssertionError("no summary line in the output of " + this);
            }
            return new Summary(parseSize(m.group(1)), parseSize(m.group(2)), parseSize(m.group(3)), parseSize(m.group(4)));
        }

        @Override
        public String toString() {
            return "dfget " + String.join(" ", args) + " -> exit " + exitCode + " after " + took.toMillis()
                    + " ms\n--- stdout ---\n" + stdout + "\n--- stderr ---\n" + stderr;
        }
    }

    /** A dfget that is still running. */
    public final class Running {
        private final List<String> args;
        private final Process process;
        private final Path out;
        private final Path err;
        private final long startedNanos;

        private Running(List<String> args, Process process, Path out, Path err, long startedNanos) {
            this.args = args;
            this.process = process;
            this.out = out;
            this.err = err;
            this.startedNanos = startedNanos;
        }

        public long pid() {
            return process.pid();
        }

        public Result await(Duration timeout) {
            if (!ChildProcesses.awaitExit(process, timeout)) {
                ChildProcesses.kill(process);
                throw new AssertionError("dfget pid " + process.pid() + " did not finish within " + timeout + ": "
                        + new Result(args, -1, read(out), read(err), Duration.ofNanos(System.nanoTime() - startedNanos)));
            }
            Duration took = Duration.ofNanos(System.nanoTime() - startedNanos);
            return new Result(args, process.exitValue(), read(out), read(err), took);
        }
    }

    /**
     * The sizes of a summary line, in bytes. dfget prints them rounded to one decimal ({@code 128.0 MiB}), so
     * each is exact only to ±0.05 of its unit.
     */
    public record Summary(long total, long origin, long peers, long localCache) {
    }

    /** {@code 0 B}, {@code 512 B}, {@code 1.5 KiB}, {@code 256.0 MiB} to bytes (rounded). */
    static long parseSize(String human) {
        Matcher m = SIZE.matcher(human.strip());
        if (!m.matches()) {
            throw new IllegalArgumentException("not a dfget size: " + human);
        }
        int shift = switch (m.group(2).toUpperCase(Locale.ROOT)) {
            case "B" -> 0;
            case "KIB" -> 10;
            case "MIB" -> 20;
            case "GIB" -> 30;
            default -> 40;
        };
        return Math.round(Double.parseDouble(m.group(1)) * (1L << shift));
    }

    private final Path socket;
    private final Path logDir;
    private final Path workingDir;
    private final List<String> launcher;

    public Dfget(Path socket, Path logDir) {
        this(socket, logDir, null, List.of());
    }

    private Dfget(Path socket, Path logDir, Path workingDir, List<String> launcher) {
        this.socket = socket;
        this.logDir = logDir;
        this.workingDir = workingDir;
        this.launcher = List.copyOf(launcher);
    }

    /** The same dfget, run with {@code dir} as its working directory. */
    public Dfget inDirectory(Path dir) {
        return new Dfget(socket, logDir, dir, launcher);
    }

    /** The same dfget, started through a prefix that execs it (e.g. {@code ip netns exec NS}). */
    public Dfget withLauncher(List<String> prefix) {
        return new Dfget(socket, logDir, workingDir, prefix);
    }

    /** {@code dfget URL -O OUTPUT -e SOCKET --no-progress MORE...}, waiting for it to finish. */
    public Result download(String url, Path output, String... more) {
        return download(url, output.toString(), more);
    }

    public Result download(String url, String output, String... more) {
        return run(downloadArgs(url, output, more));
    }

    /** Starts {@code dfget URL -O OUTPUT -e SOCKET --no-progress MORE...} and returns at once. */
    public Running startDownload(String url, Path output, String... more) {
        return start(downloadArgs(url, output.toString(), more));
    }

    private List<String> downloadArgs(String url, String output, String... more) {
        List<String> args = new ArrayList<>(List.of(url, "-O", output, "-e", socket.toString(), "--no-progress"));
        args.addAll(List.of(more));
        return args;
    }

    /** dfget with exactly these arguments. */
    public Result run(List<String> args) {
        return start(args).await(DEFAULT_TIMEOUT);
    }

    public Running start(List<String> args) {
        try {
            Files.createDirectories(logDir);
            String id = UUID.randomUUID().toString();
            Path out = logDir.resolve("dfget-" + id + ".out");
            Path err = logDir.resolve("dfget-" + id + ".err");
            List<String> cmd = new ArrayList<>(launcher);
            cmd.add(Pollen.dfget().toString());
            cmd.addAll(args);
            ProcessBuilder pb = new ProcessBuilder(cmd)
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile());
            if (workingDir != null) {
                pb.directory(workingDir.toFile());
            }
            long started = System.nanoTime();
            return new Running(List.copyOf(args), ChildProcesses.track(pb.start()), out, err, started);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start dfget " + args, e);
        }
    }

    private static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
