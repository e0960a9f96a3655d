package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.pollen.e2e.TestFiles.TestFile;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** {@code POLLEN_LOG_FORMAT=json}: the daemon's and the scheduler's stdout is one JSON object per line, for log collectors. */
class JsonLogTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @RegisterExtension
    static final Nginx origin = new Nginx();

    @RegisterExtension
    final Daemons daemons = new Daemons();

    @TempDir
    Path out;

    @TempDir
    Path work;

    @Test
    void everyLineOfADaemonThatDownloadsIsAJsonObjectWithItsEventAndLevel() {
        TestFile file = origin.createFile("json-log.bin", 8 * MiB, 71);
        DaemonProcess daemon = daemons.start(daemons.newSpec().withLauncher(List.of("env", "POLLEN_LOG_FORMAT=json")));

        Dfget.Result result = daemon.dfget().download(origin.url("/json-log.bin"), out.resolve("json-log.bin"));
        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(TestFiles.sha256(out.resolve("json-log.bin"))).isEqualTo(file.sha256());
        daemon.terminate();

        assertThat(events(daemon.stdout()))
                .anySatisfy(m -> assertThat(m).startsWith("event=ready socket=" + daemon.socket()))
                .anySatisfy(m -> assertThat(m).startsWith("event=download_finished"))
                .anySatisfy(m -> assertThat(m).startsWith("event=stopped"));
        assertThat(daemon.stderr()).isEmpty();
    }

    @Test
    void everyLineOfTheSchedulerIsAJsonObjectWithItsEventAndLevel() {
        SchedulerProcess scheduler = SchedulerProcess.start(work.resolve("scheduler"), List.of("env", "POLLEN_LOG_FORMAT=json"),
                "--port=0", "--listen=127.0.0.1");
        scheduler.terminate();

        assertThat(events(scheduler.stdout())).anySatisfy(m -> assertThat(m).startsWith("event=ready port=" + scheduler.port()));
        assertThat(scheduler.errors()).isEmpty();
    }

    @Test
    void anUnknownLogFormatStopsTheLauncherWithTheFix() {
        DaemonProcess daemon = daemons.launch(daemons.newSpec().withLauncher(List.of("env", "POLLEN_LOG_FORMAT=xml")));

        assertThat(daemon.awaitExit()).isEqualTo(1);
        assertThat(daemon.stderr().strip()).isEqualTo(
                "pollen: POLLEN_LOG_FORMAT=xml is not a log format (fix: set it to json or text, or unset it)");
    }

    /** The events of a log every line of which must be a JSON object with a level (no error), logger and time. */
    private static List<String> events(String stdout) {
        List<JsonNode> lines = stdout.lines().map(JsonLogTest::parse).toList();
        assertThat(lines).isNotEmpty().allSatisfy(line -> {
            assertThat(line.isObject()).as(line.toString()).isTrue();
            assertThat(line.path("level").asText()).as(line.toString()).isIn("INFO", "WARN");
            assertThat(line.path("loggerName").asText()).as(line.toString()).isNotEmpty();
            assertThat(line.path("timestamp").isNumber()).as(line.toString()).isTrue();
        });
        return lines.stream().map(line -> line.path("formattedMessage").asText()).toList();
    }

    private static JsonNode parse(String line) {
        try {
            return JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw new AssertionError("not a JSON line: " + line, e);
        }
    }
}
