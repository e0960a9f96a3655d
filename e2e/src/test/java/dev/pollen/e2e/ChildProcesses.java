package dev.pollen.e2e;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Every process the tests start, so that none outlives the test JVM: each fixture stops its own
 * processes by PID, and a shutdown hook kills whatever is left (after a crash or a failsafe timeout).
 */
public final class ChildProcesses {
    private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> LIVE.forEach(ChildProcesses::kill), "e2e-reaper"));
    }

    private ChildProcesses() {
    }

    public static Process track(Process process) {
        LIVE.add(process);
        process.onExit().thenRun(() -> LIVE.remove(process));
        return process;
    }

    /** SIGKILL to the process and its descendants (by PID), then waits for it to be gone. */
    public static void kill(Process process) {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        awaitExit(process, Duration.ofSeconds(10));
    }

    /**
     * SIGTERM, then SIGKILL to the process and its descendants if it has not exited within {@code grace}.
     * Returns the exit code.
     */
    public static int terminate(Process process, Duration grace) {
        if (process.isAlive()) {
            process.destroy();
            if (!awaitExit(process, grace)) {
                kill(process);
            }
        }
        return awaitExitValue(process);
    }

    public static boolean awaitExit(Process process, Duration timeout) {
        try {
            return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return !process.isAlive();
        }
    }

    private static int awaitExitValue(Process process) {
        try {
            return process.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted waiting for pid " + process.pid(), e);
        }
    }
}
