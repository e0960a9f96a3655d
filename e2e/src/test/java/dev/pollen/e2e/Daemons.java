package dev.pollen.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Starts dfdaemon processes, each in a temp directory of its own, and stops them by PID: those started
 * by a test after that test, those started in {@code @BeforeAll} after the class. A daemon that wrote an
 * ERROR (or a WARN event that means a bug, {@link LogFiles#BUG_SIGNS}) to stdout or stderr it was not told to
 * {@linkplain DaemonProcess#expectErrors expect}, or that does not stop gracefully on
 * SIGTERM, fails the test; the directories
 * of a failed test are kept (their path is printed) and the others deleted.
 *
 * <pre>{@code @RegisterExtension final Daemons daemons = new Daemons();}</pre>
 */
public final class Daemons implements BeforeEachCallback, AfterEachCallback, AfterAllCallback {
    private final List<DaemonProcess> classScoped = new ArrayList<>();
    private final List<Path> classDirs = new ArrayList<>();
    private final List<DaemonProcess> testScoped = new ArrayList<>();
    private final List<Path> testDirs = new ArrayList<>();
    private boolean inTest;
    private boolean aTestFailed;

    /** A fresh directory with the default layout: {@code dfdaemon.sock} and {@code store/} inside it. */
    public synchronized DaemonProcess.Spec newSpec() {
        try {
            Path dir = Files.createTempDirectory("pollen-e2e-");
            (inTest ? testDirs : classDirs).add(dir);
            return new DaemonProcess.Spec(dir, dir.resolve("dfdaemon.sock"), dir.resolve("store"), List.of());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Starts a daemon in a fresh directory and waits until it is ready. */
    public DaemonProcess start() {
        return start(newSpec());
    }

    public DaemonProcess start(DaemonProcess.Spec spec) {
        return launch(spec).awaitReady();
    }

    /** Starts the daemon and returns at once, for daemons expected to refuse to start. */
    public synchronized DaemonProcess launch(DaemonProcess.Spec spec) {
        DaemonProcess daemon = DaemonProcess.launch(spec);
        (inTest ? testScoped : classScoped).add(daemon);
        return daemon;
    }

    @Override
    public synchronized void beforeEach(ExtensionContext context) {
        inTest = true;
    }

    @Override
    public void afterEach(ExtensionContext context) {
        List<DaemonProcess> daemons;
        List<Path> dirs;
        synchronized (this) {
            inTest = false;
            aTestFailed |= context.getExecutionException().isPresent();
            daemons = List.copyOf(testScoped);
            dirs = List.copyOf(testDirs);
            testScoped.clear();
            testDirs.clear();
        }
        stopAndCheck(context, daemons, dirs, false);
    }

    @Override
    public void afterAll(ExtensionContext context) {
        List<DaemonProcess> daemons;
        List<Path> dirs;
        synchronized (this) {
            daemons = List.copyOf(classScoped);
            dirs = List.copyOf(classDirs);
            classScoped.clear();
            classDirs.clear();
        }
        stopAndCheck(context, daemons, dirs, aTestFailed);
    }

    private static void stopAndCheck(ExtensionContext context, List<DaemonProcess> daemons, List<Path> dirs,
            boolean keep) {
        List<String> problems = stopAll(daemons);
        boolean failed = keep || context.getExecutionException().isPresent() || !problems.isEmpty();
        if (failed) {
            dirs.forEach(d -> System.err.println("[e2e] kept " + d + " of " + context.getDisplayName()));
        } else {
            dirs.forEach(Daemons::deleteTree);
        }
        if (!problems.isEmpty()) {
            throw new AssertionError(String.join("\n", problems));
        }
    }

    /** Stops the daemons (last started first) and returns what is wrong with them: each problem a message. */
    static List<String> stopAll(List<DaemonProcess> daemons) {
        List<String> problems = new ArrayList<>();
        for (DaemonProcess daemon : daemons.reversed()) {
            boolean serving = daemon.isAlive() && daemon.isReady();
            int exit = daemon.terminate();
            if (serving && exit != 143) {
                problems.add("dfdaemon pid " + daemon.pid() + " did not stop gracefully on SIGTERM (exit " + exit
                        + ", expected 143):\n" + daemon);
            }
            List<String> errors = daemon.unexpectedErrors();
            if (!errors.isEmpty()) {
                problems.add("dfdaemon pid " + daemon.pid() + " in " + daemon.dir() + " logged unexpected errors:\n  "
                        + String.join("\n  ", errors));
            }
        }
        return problems;
    }

    public static void deleteTree(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
