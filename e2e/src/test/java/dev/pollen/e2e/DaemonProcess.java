package dev.pollen.e2e;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Pattern;
import org.awaitility.core.ConditionTimeoutException;

/**
 * One {@code bin/dfdaemon} running as a real, separate process: its own directory, socket and storage,
 * stdout and stderr in files beside them. Stopped by PID, never by name.
 *
 * <p>Create it through {@link Daemons}, which stops every daemon after the test and fails the test when a
 * daemon wrote an ERROR line (or a WARN event that means a bug, see {@link LogFiles#BUG_SIGNS}) to stdout or
 * stderr that the test did not {@linkplain #expectErrors expect}.
 */
public final class DaemonProcess implements AutoCloseable {
    static final Duration READY_TIMEOUT = Duration.ofSeconds(30);
    static final Duration STOP_GRACE = Duration.ofSeconds(20);
    /** The VM's one line on stderr at every start of the daemon: bin/dfdaemon-jit.json loaded (DaemonJitTest). */
    static final String JIT_DIRECTIVES_LOADED = "2 compiler directives added";
    private static final String READY = "event=ready socket=";
    private static final Pattern METRICS_PORT = Pattern.compile("event=ready .* metrics=\\S*:(\\d+)");
    private static final Pattern HEALTH_PORT = Pattern.compile("event=ready .* health=\\S*:(\\d+)");

    /**
     * Where a daemon lives and how it is started; the same spec restarts it in the same place. The launcher is
     * a command prefix that execs the daemon (e.g. {@code ip netns exec NS}), so the PID is still the daemon's;
     * its dfget runs through the same prefix.
     */
    public record Spec(Path dir, Path socket, Path storage, List<String> flags, List<String> launcher) {
        public Spec {
            flags = List.copyOf(flags);
            launcher = List.copyOf(launcher);
        }

        public Spec(Path dir, Path socket, Path storage, List<String> flags) {
            this(dir, socket, storage, flags, List.of());
        }

        public Spec withSocket(Path newSocket) {
            return new Spec(dir, newSocket, storage, flags, launcher);
        }

        public Spec withFlags(String... more) {
            List<String> all = new ArrayList<>(flags);
            all.addAll(List.of(more));
            return new Spec(dir, socket, storage, all, launcher);
        }

        /** The same daemon started through {@code prefix}, e.g. {@code [ip, netns, exec, NS]}. */
        public Spec withLauncher(List<String> prefix) {
            return new Spec(dir, socket, storage, flags, prefix);
        }

        Path lockFile() {
            return socket.resolveSibling(socket.getFileName() + ".lock");
        }

        List<String> command() {
            List<String> cmd = new ArrayList<>(launcher);
            cmd.add(Pollen.dfdaemon().toString());
            cmd.add("--download.server.socketPath=" + socket);
            cmd.add("--storage.dir=" + storage);
            // Many daemons share this machine: free ports for the monitoring servers (the ready line names them);
            // a test's own flags come later and win.
            cmd.add("--metrics.server.port=0");
            cmd.add("--health.server.port=0");
            cmd.addAll(flags);
            return cmd;
        }
    }

    private final Spec spec;
    private final Process process;
    private final Path stdoutLog;
    private final Path stderrLog;
    private final Instant launchedAt;
    private final List<Pattern> expectedErrors = new CopyOnWriteArrayList<>();

    private DaemonProcess(Spec spec, Process process, Path stdoutLog, Path stderrLog, Instant launchedAt) {
        this.spec = spec;
        this.process = process;
        this.stdoutLog = stdoutLog;
        this.stderrLog = stderrLog;
        this.launchedAt = launchedAt;
    }

    /** Starts the process and returns at once; see {@link #awaitReady()} and {@link #awaitExit()}. */
    static DaemonProcess launch(Spec spec) {
        try {
            Files.createDirectories(spec.dir());
            int run = 1;
            while (Files.exists(spec.dir().resolve("dfdaemon-" + run + ".out"))) {
                run++;
            }
            Path out = spec.dir().resolve("dfdaemon-" + run + ".out");
            Path err = spec.dir().resolve("dfdaemon-" + run + ".err");
            Files.createFile(out);
            Files.createFile(err);
            ProcessBuilder pb = new ProcessBuilder(spec.command())
                    .directory(spec.dir().toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile());
            Instant launchedAt = Instant.now();
            Process process = ChildProcesses.track(pb.start());
            return new DaemonProcess(spec, process, out, err, launchedAt);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + spec.command(), e);
        }
    }

    /** Waits for the ready line; fails with the daemon's logs if it exits or stays silent instead. */
    public DaemonProcess awaitReady() {
        try {
            await("dfdaemon pid " + pid() + " to log its ready line")
                    .atMost(READY_TIMEOUT)
                    .pollInterval(Duration.ofMillis(20))
                    .until(() -> isReady() || !process.isAlive());
        } catch (ConditionTimeoutException e) {
            throw new AssertionError("dfdaemon was not ready within " + READY_TIMEOUT + ":\n" + this, e);
        }
        if (!isReady()) {
            throw new AssertionError("dfdaemon exited before it was ready:\n" + this);
        }
        return this;
    }

    /** Waits for the process to exit by itself and returns its exit code; fails if it is still running. */
    public int awaitExit() {
        return awaitExit(Duration.ofSeconds(30));
    }

    public int awaitExit(Duration timeout) {
        if (!ChildProcesses.awaitExit(process, timeout)) {
            throw new AssertionError("dfdaemon pid " + pid() + " still runs after " + timeout + ":\n" + this);
        }
        return process.exitValue();
    }

    public boolean isReady() {
        return stdout().contains(READY);
    }

    /** The port of {@code GET /metrics}, from the ready line. */
    public int metricsPort() {
        return readyPort(METRICS_PORT, "metrics");
    }

    /** The port of {@code GET /healthy}, from the ready line. */
    public int healthPort() {
        return readyPort(HEALTH_PORT, "health");
    }

    private int readyPort(Pattern pattern, String what) {
        java.util.regex.Matcher m = pattern.matcher(stdout());
        if (!m.find()) {
            throw new AssertionError("no " + what + " port in the ready line:\n" + this);
        }
        return Integer.parseInt(m.group(1));
    }

    /** From launching the process to the time stamp of its ready line. */
    public Duration startupTime() {
        String line = logLines("event=ready").stream().findFirst()
                .orElseThrow(() -> new AssertionError("no ready line:\n" + this));
        Instant ready = OffsetDateTime.parse(line.substring(0, line.indexOf(' '))).toInstant();
        return Duration.between(launchedAt, ready);
    }

    /** SIGKILL, as the OOM killer or a node crash would; returns when the process is gone. */
    public void kill9() {
        ChildProcesses.kill(process);
    }

    /** SIGTERM, then SIGKILL if the daemon has not stopped within the grace period; returns the exit code. */
    public int terminate() {
        return ChildProcesses.terminate(process, STOP_GRACE);
    }

    @Override
    public void close() {
        terminate();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public long pid() {
        return process.pid();
    }

    public Spec spec() {
        return spec;
    }

    public Path dir() {
        return spec.dir();
    }

    public Path socket() {
        return spec.socket();
    }

    public Path lockFile() {
        return spec.lockFile();
    }

    public Path storage() {
        return spec.storage();
    }

    /** A dfget that talks to this daemon's socket and keeps its own output beside the daemon's logs. */
    public Dfget dfget() {
        return new Dfget(socket(), dir().resolve("dfget")).withLauncher(spec.launcher());
    }

    public String stdout() {
        return LogFiles.read(stdoutLog);
    }

    /** stderr without the VM's notice that the JIT's directives were loaded, which every start prints first. */
    public String stderr() {
        String written = stderrAsWritten();
        return written.startsWith(JIT_DIRECTIVES_LOADED + "\n") ? written.substring(JIT_DIRECTIVES_LOADED.length() + 1) : written;
    }

    public String stderrAsWritten() {
        return LogFiles.read(stderrLog);
    }

    /** Log lines (stdout) that contain {@code text}, e.g. {@code "event=stale_socket_recovered"}. */
    public List<String> logLines(String text) {
        return stdout().lines().filter(l -> l.contains(text)).toList();
    }

    /**
     * Declares lines this test provokes on purpose (a regular expression found in the line): ERROR lines, or
     * the WARN events that otherwise mean a bug ({@link LogFiles#BUG_SIGNS}), on stdout or stderr.
     */
    public DaemonProcess expectErrors(String regex) {
        expectedErrors.add(Pattern.compile(regex));
        return this;
    }

    /** Lines of stdout and stderr that show a {@linkplain LogFiles#BUG_SIGNS bug sign} no {@link #expectErrors} covers. */
    List<String> unexpectedErrors() {
        List<String> problems = new ArrayList<>(LogFiles.unexpectedProblems(stdout(), expectedErrors));
        LogFiles.unexpectedProblems(stderr(), expectedErrors).forEach(l -> problems.add("(stderr) " + l));
        return problems;
    }

    @Override
    public String toString() {
        return "dfdaemon pid " + pid() + (process.isAlive() ? " (running)" : " (exit " + process.exitValue() + ")")
                + " in " + dir() + "\n--- stdout " + stdoutLog + " ---\n" + LogFiles.tail(stdout())
                + "\n--- stderr " + stderrLog + " ---\n" + LogFiles.tail(stderr());
    }
}
