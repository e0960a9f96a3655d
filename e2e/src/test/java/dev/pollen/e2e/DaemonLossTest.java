package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.e2e.TestFiles.TestFile;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * dfget when its daemon dies under it: one line that says what happened and what to do, exit 3, and the same
 * command run again once the daemon is back finishes the download, fetching from the origin only what the
 * dead daemon had not stored. Runs: {@code -Dfaults.runs=N} (default 1).
 */
class DaemonLossTest {
    private static final int RUNS = Integer.getInteger("faults.runs", 1);
    private static final long PIECE = 4 * MiB;
    private static final long SIZE = 96 * MiB;

    /** 2 MiB/s per connection, 8 pieces at a time: 96 MiB take about 6 s, time enough to kill the daemon midway. */
    @RegisterExtension
    static final Nginx origin = new Nginx().location(Nginx.rateLimited("/slow/", "2m"));

    @RegisterExtension
    final Daemons daemons = new Daemons();

    @TempDir
    Path out;

    @Test
    void aDaemonKilledMidDownloadIsNamedAndTheSameCommandResumes() {
        DaemonProcess daemon = daemons.start();
        for (int run = 0; run < RUNS; run++) {
            String name = "lost-" + run + ".bin";
            TestFile file = origin.createFile(name, SIZE, 900 + run);
            String url = origin.url("/slow/" + name);
            Path output = out.resolve(name);

            Dfget.Running first = daemon.dfget().startDownload(url, output);
            await("4 pieces to land").atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(50))
                    .until(() -> origin.loggedRequests("/slow/" + name).stream().filter(r -> r.bytes() == PIECE).count() >= 4);
            daemon.kill9();

            Dfget.Result lost = first.await(Duration.ofSeconds(30));
            assertThat(lost.exitCode()).as(lost.toString()).isEqualTo(3);
            assertThat(lost.stderr().lines()).as(lost.toString()).containsExactly("dfget: the daemon at " + daemon.socket()
                    + " closed the connection mid-download (it stopped or restarted); running the same command again resumes");
            assertThat(output).doesNotExist();
            long sentBefore = origin.bytesSent("/slow/" + name);

            daemon = daemons.start(daemon.spec());
            Dfget.Result again = daemon.dfget().download(url, output);

            assertThat(again.exitCode()).as(again.toString()).isZero();
            assertThat(TestFiles.sha256(output)).isEqualTo(file.sha256());
            long sentAgain = origin.bytesSent("/slow/" + name) - sentBefore;
            System.out.println("[e2e] daemon killed after " + sentBefore / MiB + " MiB of " + SIZE / MiB
                    + " MiB; the re-run fetched " + sentAgain / MiB + " MiB from the origin: " + again.stderr().strip());
            assertThat(sentAgain).as("origin bytes for the re-run: the pieces stored before the kill are kept")
                    .isLessThanOrEqualTo(SIZE - 4 * PIECE + PIECE);
        }
    }
}
