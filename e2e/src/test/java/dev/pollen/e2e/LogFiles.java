package dev.pollen.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.regex.Pattern;

/** Reading the log files of processes the tests start, and finding the lines in them that mean a bug. */
final class LogFiles {
    /**
     * Lines that mean a bug unless the test provoked them: ERROR lines, the WARN events that only a bug
     * causes (a failed GC pass, a failed close, a piece lookup that threw), and the JVM's own reports of a
     * thread or the process dying, which bypass the logger and land on stderr.
     */
    static final List<Pattern> BUG_SIGNS = List.of(
            Pattern.compile(" level=ERROR "),
            Pattern.compile(" level=WARN .*\\bevent=(gc_failed|(task_)?close_failed|vortex_lookup_failed|monitoring_endpoint_failed)\\b"),
            Pattern.compile("^Exception in thread "),
            Pattern.compile("java\\.lang\\.OutOfMemoryError"),
            Pattern.compile("A fatal error has been detected by the Java Runtime"));

    private LogFiles() {
    }

    /** The lines of {@code text} that show a {@linkplain #BUG_SIGNS bug sign} no {@code expected} pattern covers. */
    static List<String> unexpectedProblems(String text, Collection<Pattern> expected) {
        return text.lines()
                .filter(l -> BUG_SIGNS.stream().anyMatch(p -> p.matcher(l).find()))
                .filter(l -> expected.stream().noneMatch(p -> p.matcher(l).find()))
                .toList();
    }

    /** The file's text; empty when there is no file (yet). */
    static String read(Path file) {
        try {
            return file == null ? "" : Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return "";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The last 40 lines, for failure messages. */
    static String tail(String text) {
        List<String> lines = text.lines().toList();
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    }
}
