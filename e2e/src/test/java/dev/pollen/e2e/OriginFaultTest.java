package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.e2e.FaultProxy.Fault;
import dev.pollen.e2e.TestFiles.TestFile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * An origin that fails in the ways real ones do (5xx, resets, stalls and truncations mid-body, a Content-Length
 * that does not match the body), behind {@link FaultProxy} between the daemon and nginx. A few
 * faults are retried away and the output is right; a fault on every request ends in one line naming the
 * origin's failure and exit 4, with no output file and no task stored as finished (a later download of the same
 * URL through a healthy origin is right). Never is a wrong byte reported complete: every successful output is
 * checked against the file's SHA-256. Runs per case: {@code -Dfaults.runs=N} (default 2).
 */
class OriginFaultTest {
    private static final int RUNS = Integer.getInteger("faults.runs", 2);
    private static final long SIZE = 16 * MiB;
    private static final Pattern STARTED = Pattern.compile("event=download_started task=(\\w+) .*url=(\\S+)");
    private static final AtomicInteger SEED = new AtomicInteger(700);

    @RegisterExtension
    static final Nginx origin = new Nginx();

    @RegisterExtension
    static final Daemons daemons = new Daemons();

    private static DaemonProcess daemon;
    private static final StringBuilder figures = new StringBuilder();

    @TempDir
    Path out;

    @BeforeAll
    static void startDaemon() {
        // A stalled origin read is given up after 3 s (default 60 s), so the stall cases take seconds.
        daemon = daemons.start(daemons.newSpec().withFlags("--download.pieceTimeout=3s"));
    }

    @AfterAll
    static void printFigures() {
        System.out.println("[e2e] origin faults (fault | runs | outcome | corrupt outputs | daemon crashes):\n" + figures);
    }

    static Stream<Arguments> recoverable() {
        return Stream.of(
                Arguments.of(Fault.status(503, 2)),
                Arguments.of(Fault.status(500, 3)),
                Arguments.of(Fault.resetAfter(MiB, 3)),
                Arguments.of(Fault.stallAfter(MiB, 2)),
                Arguments.of(Fault.truncateAfter(MiB, 3)),
                Arguments.of(Fault.longerLength(1000, 3)),
                // The daemon reads the bytes of the range it asked for and no more: a Content-Length that
                // claims more than the body, on a body that is whole, is harmless even when it never ends.
                Arguments.of(Fault.longerLength(1000, FaultProxy.ALWAYS)),
                Arguments.of(Fault.shorterLength(1000, 3)));
    }

    static Stream<Arguments> permanent() {
        return Stream.of(
                Arguments.of(Fault.status(503, FaultProxy.ALWAYS), "503"),
                Arguments.of(Fault.resetAfter(MiB, FaultProxy.ALWAYS), "origin"),
                Arguments.of(Fault.stallAfter(MiB, FaultProxy.ALWAYS), "origin"),
                Arguments.of(Fault.truncateAfter(MiB, FaultProxy.ALWAYS), "origin"),
                Arguments.of(Fault.shorterLength(1000, FaultProxy.ALWAYS), "origin"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("recoverable")
    void aFewFaultsAreRetriedAwayAndTheOutputIsRight(Fault fault) {
        for (int run = 0; run < RUNS; run++) {
            TestFile file = origin.createFile(name(fault, run), SIZE, SEED.incrementAndGet());
            Path output = out.resolve(file.path().getFileName());
            try (FaultProxy proxy = FaultProxy.start(origin.port(), fault)) {
                Dfget.Result result = daemon.dfget().download(proxy.url("/" + file.path().getFileName()), output);

                String context = fault + ", run " + run + ": " + result + "\nproxy:\n  " + String.join("\n  ", proxy.log());
                assertThat(result.exitCode()).as(context).isZero();
                assertThat(TestFiles.sha256(output)).as(context).isEqualTo(file.sha256());
                if (fault.times() == FaultProxy.ALWAYS) {
                    assertThat(proxy.faulted()).as("the fault was applied: " + context).isPositive();
                } else {
                    assertThat(proxy.faulted()).as("the fault was applied: " + context).isEqualTo(fault.times());
                }
            }
            assertThat(daemon.isAlive()).as("dfdaemon after " + fault + ":\n" + daemon).isTrue();
        }
        figures.append(fault).append(" | ").append(RUNS).append(" | retried, output right | 0 | 0\n");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("permanent")
    void aBrokenOriginIsOneClearLineAndNothingIsKept(Fault fault, String named) {
        for (int run = 0; run < RUNS; run++) {
            TestFile file = origin.createFile(name(fault, run), SIZE, SEED.incrementAndGet());
            Path runDir = directory(out.resolve("run-" + run));
            Path output = runDir.resolve(file.path().getFileName());
            int port;
            String url;
            try (FaultProxy proxy = FaultProxy.start(origin.port(), fault)) {
                port = proxy.port();
                url = proxy.url("/" + file.path().getFileName());
                Dfget.Result result = daemon.dfget().download(url, output);

                String context = fault + ", run " + run + ": " + result + "\nproxy:\n  " + String.join("\n  ", proxy.log());
                assertThat(result.exitCode()).as(context).isEqualTo(4);
                List<String> lines = result.stderr().lines().toList();
                assertThat(lines).as(context).singleElement().asString().startsWith("dfget: ").contains(named);
                assertThat(output).as(context).doesNotExist();
                assertThat(filesIn(runDir)).as("partial outputs beside " + output + ": " + context).isEmpty();
                String task = taskOf(url);
                assertThat(daemon.logLines("event=task_finished task=" + task)).as(context).isEmpty();
            }
            assertThat(daemon.isAlive()).as("dfdaemon after " + fault + ":\n" + daemon).isTrue();

            // Whatever the failed download left in the store, the same URL through a healthy origin is right.
            try (FaultProxy healthy = FaultProxy.start(port, origin.port(), Fault.none())) {
                Dfget.Result again = daemon.dfget().download(url, output);
                assertThat(again.exitCode()).as("again through a healthy origin: " + again).isZero();
                assertThat(TestFiles.sha256(output)).as("again through a healthy origin").isEqualTo(file.sha256());
            }
        }
        figures.append(fault).append(" | ").append(RUNS).append(" | exit 4, one line, no output | 0 | 0\n");
    }

    private String taskOf(String url) {
        return daemon.logLines("event=download_started").stream()
                .map(STARTED::matcher)
                .filter(m -> m.find() && m.group(2).equals(url))
                .map(m -> m.group(1))
                .reduce((first, last) -> last)
                .orElseThrow(() -> new AssertionError("no download_started line for " + url + ":\n" + daemon));
    }

    private static List<Path> filesIn(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            return files.toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Path directory(Path dir) {
        try {
            return Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String name(Fault fault, int run) {
        return fault.kind().name().toLowerCase() + "-" + fault.bytes() + "-" + fault.status() + "-"
                + (fault.times() == FaultProxy.ALWAYS ? "always" : fault.times()) + "-" + run + ".bin";
    }
}
