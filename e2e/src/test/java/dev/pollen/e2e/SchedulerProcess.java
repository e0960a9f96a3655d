package dev.pollen.e2e;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.awaitility.core.ConditionTimeoutException;

/**
 * {@code bin/scheduler} as a real process: its logs in its own directory (one {@code scheduler-N.out} per run),
 * a ready line parsed from stdout, stopped by PID. {@link #restart()} starts it again with the same command, on
 * the same address and port. Every run's ERROR lines are kept for {@link #errors()}.
 */
final class SchedulerProcess implements AutoCloseable {
    private static final Duration READY_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration STOP_GRACE = Duration.ofSeconds(15);
    private static final Pattern READY = Pattern.compile("event=ready port=(\\d+)");
    private static final Pattern METRICS_PORT = Pattern.compile("event=ready .* metrics=\\S*:(\\d+)");

    private final Path dir;
    private final List<String> command;
    /** stdout and stderr of every run. */
    private final List<Path> logs = new CopyOnWriteArrayList<>();
    private volatile Process process;
    private volatile Path out;
    private volatile Path err;

    private SchedulerProcess(Path dir, List<String> command) {
        this.dir = dir;
        this.command = List.copyOf(command);
    }

    /**
     * Starts {@code launcher... bin/scheduler flags...} in {@code dir} and waits for its ready line.
     *
     * @param launcher a prefix that execs the scheduler, e.g. {@code ip netns exec NS}; empty for none
     */
    static SchedulerProcess start(Path dir, List<String> launcher, String... flags) {
        List<String> cmd = new ArrayList<>(launcher);
        cmd.add(Pollen.scheduler().toString());
        // Many processes share this machine: a free port for /metrics unless the test names one (the ready line has it).
        if (java.util.Arrays.stream(flags).noneMatch(f -> f.startsWith("--metrics-port"))) {
            cmd.add("--metrics-port=0");
        }
        cmd.addAll(List.of(flags));
        SchedulerProcess scheduler = new SchedulerProcess(dir, cmd);
        scheduler.launch();
        return scheduler;
    }

    /** Starts it again (after {@link #terminate()} or {@link #kill9()}) with the same command. */
    synchronized SchedulerProcess restart() {
        if (process != null && process.isAlive()) {
            throw new IllegalStateException("scheduler pid " + process.pid() + " is still running");
        }
        launch();
        return this;
    }

    private synchronized void launch() {
        try {
            Files.createDirectories(dir);
            int run = logs.size() / 2 + 1;
            out = dir.resolve("scheduler-" + run + ".out");
            err = dir.resolve("scheduler-" + run + ".err");
            logs.add(out);
            logs.add(err);
            process = ChildProcesses.track(new ProcessBuilder(command)
                    .directory(dir.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile())
                    .start());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + command, e);
        }
        Process p = process;
        try {
            await("scheduler pid " + p.pid() + " to log its ready line")
                    .atMost(READY_TIMEOUT)
                    .pollInterval(Duration.ofMillis(20))
                    .until(() -> READY.matcher(stdout()).find() || !p.isAlive());
        } catch (ConditionTimeoutException e) {
            throw new AssertionError("scheduler was not ready within " + READY_TIMEOUT + ":\n" + this, e);
        }
        if (!READY.matcher(stdout()).find()) {
            throw new AssertionError("scheduler exited before it was ready:\n" + this);
        }
    }

    /** The port from the current run's ready line. */
    int port() {
        Matcher m = READY.matcher(stdout());
        if (!m.find()) {
            throw new IllegalStateException("no ready line:\n" + this);
        }
        return Integer.parseInt(m.group(1));
    }

    /** The port of {@code GET /metrics} and {@code GET /healthy}, from the current run's ready line. */
    int metricsPort() {
        Matcher m = METRICS_PORT.matcher(stdout());
        if (!m.find()) {
            throw new IllegalStateException("no metrics port in the ready line:\n" + this);
        }
        return Integer.parseInt(m.group(1));
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** SIGTERM, then SIGKILL after a grace period; returns the exit code. */
    synchronized int terminate() {
        return ChildProcesses.terminate(process, STOP_GRACE);
    }

    synchronized void kill9() {
        ChildProcesses.kill(process);
    }

    @Override
    public void close() {
        terminate();
    }

    Path dir() {
        return dir;
    }

    /** The current run's stdout (its log). */
    String stdout() {
        return LogFiles.read(out);
    }

    /** Lines of the current run's log that contain {@code text}, e.g. {@code "event=host_joined"}. */
    List<String> logLines(String text) {
        return stdout().lines().filter(l -> l.contains(text)).toList();
    }

    /** Lines of every run's stdout and stderr so far that show a {@linkplain LogFiles#BUG_SIGNS bug sign}. */
    List<String> errors() {
        return logs.stream().flatMap(f -> LogFiles.unexpectedProblems(LogFiles.read(f), List.of()).stream()).toList();
    }

    @Override
    public String toString() {
        return "scheduler pid " + process.pid() + (process.isAlive() ? " (running)" : " (exit " + process.exitValue() + ")")
                + " in " + dir + "\n--- stdout " + out + " ---\n"
                + LogFiles.tail(stdout())
                + "\n--- stderr " + err + " ---\n" + LogFiles.read(err);
    }
}
