package dev.pollen.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The harness's own check: lines that mean a bug, on either stream of a real process, fail the test unless declared. */
class LogCheckTest {
    private static final String STAMP = "2026-01-01T00:00:00.000Z ";

    @RegisterExtension
    final Daemons daemons = new Daemons();

    @Test
    void anErrorOnStderrFailsTheCheckUntilTheTestDeclaresIt() {
        DaemonProcess daemon = daemons.start(daemons.newSpec().withLauncher(
                sayingFirst(">&2", STAMP + "level=ERROR logger=Fake thread=main event=boom")));

        assertThat(daemon.unexpectedErrors()).singleElement().asString().startsWith("(stderr) ").contains("event=boom");
        List<String> problems = Daemons.stopAll(List.of(daemon));
        assertThat(problems).singleElement().asString().contains("logged unexpected errors").contains("event=boom");

        daemon.expectErrors("event=boom");
        assertThat(daemon.unexpectedErrors()).isEmpty();
    }

    @Test
    void aWarnEventThatMeansABugFailsTheCheckAndAnOrdinaryWarnDoesNot() {
        DaemonProcess daemon = daemons.start(daemons.newSpec().withLauncher(sayingFirst("",
                STAMP + "level=WARN logger=Daemon thread=housekeeping event=gc_failed error=\\\"java.io.IOException: x\\\"\n"
                        + STAMP + "level=WARN logger=PeerDownload thread=piece-1 event=parent_slow task=t parent=p")));

        assertThat(daemon.unexpectedErrors()).singleElement().asString().contains("event=gc_failed");
        daemon.expectErrors("event=gc_failed");
        assertThat(daemon.unexpectedErrors()).isEmpty();
    }

    @Test
    void everyBugSignIsFound() {
        String log = String.join("\n",
                STAMP + "level=INFO logger=Daemon thread=main event=ready socket=/s",
                STAMP + "level=ERROR logger=X thread=y event=a",
                STAMP + "level=WARN logger=ActiveTask thread=y event=task_close_failed task=t",
                STAMP + "level=WARN logger=Daemon thread=y event=close_failed error=e",
                STAMP + "level=WARN logger=VortexServerHandler thread=y event=vortex_lookup_failed task=t piece=1",
                STAMP + "level=WARN logger=X thread=y event=origin_retry attempt=1",
                "Exception in thread \"piece-7\" java.lang.IllegalStateException: x",
                "Terminating due to java.lang.OutOfMemoryError: Java heap space");

        assertThat(LogFiles.unexpectedProblems(log, List.of())).hasSize(6).noneMatch(l -> l.contains("event=ready"))
                .noneMatch(l -> l.contains("origin_retry"));
        assertThat(LogFiles.unexpectedProblems(log, List.of(Pattern.compile("event=\\w*close_failed")))).hasSize(4);
    }

    /** A launcher that writes {@code text} (to stdout, or where {@code redirect} says) before it execs the daemon. */
    private static List<String> sayingFirst(String redirect, String text) {
        return List.of("/bin/sh", "-c", "printf '%s\\n' \"" + text + "\" " + redirect + "; exec \"$0\" \"$@\"");
    }
}
