package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.e2e.TestFiles.TestFile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A daemon killed with SIGKILL the moment a download succeeds: the output stays whole, and the task is
 * stored finished or replayed from its journal and re-verified, never fetched again nor served corrupt.
 */
class DurabilityTest {
    private static final int ROUNDS = 3;
    private static final long SIZE = 32 * MiB;
    private static final long PIECES = SIZE / (4 * MiB);

    @RegisterExtension
    static final Nginx origin = new Nginx();

    @RegisterExtension
    final Daemons daemons = new Daemons();

    @TempDir
    Path out;

    @Test
    void aKill9RightAfterDfgetSucceedsLosesNeitherTheOutputNorTheStoredTask() {
        DaemonProcess daemon = daemons.start();
        for (int round = 0; round < ROUNDS; round++) {
            TestFile file = origin.createFile("durable-" + round + ".bin", SIZE, 40 + round);
            String url = origin.url("/durable-" + round + ".bin");
            Path output = out.resolve("first-" + round + ".bin");

            Dfget.Result first = daemon.dfget().download(url, output);
            daemon.kill9();

            assertThat(first.exitCode()).as("%s\n%s", first, daemon).isZero();
            assertThat(TestFiles.sha256(output)).as("output after the kill").isEqualTo(file.sha256());
            String taskId = taskId(daemon, url);
            long originBytes = origin.bytesSent("/durable-" + round + ".bin");

            daemon = daemons.start(daemon.spec());
            Path again = out.resolve("again-" + round + ".bin");
            Dfget.Result second = daemon.dfget().download(url, again);

            assertThat(second.exitCode()).as("%s\n%s", second, daemon).isZero();
            assertThat(TestFiles.sha256(again)).isEqualTo(file.sha256());
            assertThat(second.stderr()).contains("origin 0 B, peers 0 B, local cache 32.0 MiB");
            assertThat(origin.bytesSent("/durable-" + round + ".bin")).as("origin bytes after the restart").isEqualTo(originBytes);
            List<String> loaded = daemon.logLines("event=task_loaded task=" + taskId);
            assertThat(loaded).as("the restarted daemon loaded the stored task\n%s", daemon).hasSize(1);
            assertThat(loaded.getFirst()).as("every piece kept (re-verified from the journal if not finished)")
                    .contains("stored_pieces=" + PIECES);
            Path metadata = daemon.storage().resolve("tasks").resolve(taskId).resolve("metadata");
            await("the task to be stored as finished").atMost(Duration.ofSeconds(10)).until(() -> finishedOnDisk(metadata));
            System.out.printf("[e2e] durability round %d: killed after success, restart found the task %s%n", round,
                    loaded.getFirst().contains("finished=true") ? "finished" : "unfinished and re-verified its journal");
        }
    }

    private static String taskId(DaemonProcess daemon, String url) {
        Pattern created = Pattern.compile("event=task_created task=([0-9a-f]{64}) url=" + Pattern.quote(url) + " ");
        for (String line : daemon.logLines("event=task_created")) {
            Matcher m = created.matcher(line);
            if (m.find()) {
                return m.group(1);
            }
        }
        throw new AssertionError("no task_created line for " + url + "\n" + daemon);
    }

    /** The metadata file is a CRC line, then JSON. */
    private static boolean finishedOnDisk(Path metadata) {
        try {
            return Files.readString(metadata, StandardCharsets.UTF_8).contains("\"finished\":true");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
