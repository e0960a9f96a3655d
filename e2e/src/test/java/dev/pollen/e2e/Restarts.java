package dev.pollen.e2e;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Daemons a test starts again in place of killed ones (same directory, socket, storage and flags, so they resume
 * their tasks), stopped after the test like {@link Daemons} stops its own: by PID, SIGTERM first, and an ERROR
 * they logged that the test did not expect fails the test. Register it after the fixture that owns the network
 * the daemons run in ({@code @Order}), so that they stop before it is torn down.
 */
final class Restarts implements AfterEachCallback {
    private final List<DaemonProcess> started = new CopyOnWriteArrayList<>();

    /** Starts {@code spec} again and returns at once (the caller decides what "serving again" means). */
    DaemonProcess launch(DaemonProcess.Spec spec) {
        DaemonProcess daemon = DaemonProcess.launch(spec);
        started.add(daemon);
        return daemon;
    }

    @Override
    public void afterEach(ExtensionContext context) {
        List<String> problems = new ArrayList<>();
        for (DaemonProcess daemon : List.copyOf(started).reversed()) {
            boolean serving = daemon.isAlive() && daemon.isReady();
            int exit = daemon.terminate();
            if (serving && exit != 143) {
                problems.add("restarted dfdaemon pid " + daemon.pid() + " did not stop gracefully on SIGTERM (exit "
                        + exit + ", expected 143):\n" + daemon);
            }
            List<String> errors = daemon.unexpectedErrors();
            if (!errors.isEmpty()) {
                problems.add("restarted dfdaemon pid " + daemon.pid() + " in " + daemon.dir()
                        + " logged unexpected errors:\n  " + String.join("\n  ", errors));
            }
        }
        started.clear();
        if (!problems.isEmpty()) {
            throw new AssertionError(String.join("\n", problems));
        }
    }
}
