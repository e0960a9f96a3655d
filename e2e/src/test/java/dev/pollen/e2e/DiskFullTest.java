package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.e2e.TestFiles.TestFile;
import dev.pollen.proto.dfdaemon.v2.DeleteLocalTaskRequest;
import dev.pollen.proto.dfdaemon.v2.DfdaemonDownloadGrpc;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The storage disk filling up in the middle of downloads: two 40 MiB downloads at once on a 64 MiB storage
 * filesystem. Both start with room for themselves; together they do not fit, so at least one meets ENOSPC
 * halfway. That is a local fault: dfget must say so (exit 8, NO_SPACE, naming the local storage) at once,
 * not retry the origin and report it as failed (exit 4); the partial task must be released so the disk
 * recovers; and once space is back the very same command succeeds.
 */
class DiskFullTest {
    private static final long FILE_SIZE = 40 * MiB;
    private static final int STORAGE_MIB = 64;
    /** The probe plus one request per 4 MiB piece: what a download asks the origin for when nothing is retried. */
    private static final int REQUESTS_WITHOUT_RETRY = 1 + (int) (FILE_SIZE / (4 * MiB));
    private static final Pattern DOWNLOAD_STARTED = Pattern.compile("event=download_started task=(\\w+) .* url=(\\S+)");

    /** 1 MiB/s per connection: with 8 piece requests per task, the disk fills about 4 s into the downloads. */
    @RegisterExtension
    static final Nginx origin = new Nginx().location(Nginx.rateLimited("/slow/", "1m"));

    @RegisterExtension
    @Order(1)
    final TmpfsMount disks = new TmpfsMount();

    @RegisterExtension
    @Order(2)
    final Daemons daemons = new Daemons();

    @TempDir
    Path out;

    @Test
    void theDownloadThatRunsOutOfSpaceFailsAsALocalFaultReleasesItsTaskAndSucceedsOnceSpaceIsBack() {
        DaemonProcess.Spec spec = daemons.newSpec();
        Path storage = disks.mount(spec.storage(), STORAGE_MIB);
        DaemonProcess daemon = daemons.start(spec);
        TestFile a = origin.createFile("full-a.bin", FILE_SIZE, 81);
        TestFile b = origin.createFile("full-b.bin", FILE_SIZE, 82);
        List<TestFile> files = List.of(a, b);

        List<Dfget.Running> running = new ArrayList<>();
        for (TestFile file : files) {
            running.add(daemon.dfget().startDownload(url(file), out.resolve(file.path().getFileName())));
        }
        List<Dfget.Result> results = new ArrayList<>();
        for (Dfget.Running r : running) {
            results.add(r.await(Duration.ofSeconds(90)));
        }

        List<Integer> failed = new ArrayList<>();
        for (int i = 0; i < files.size(); i++) {
            Dfget.Result result = results.get(i);
            TestFile file = files.get(i);
            System.out.println("[e2e] disk full: " + file.path().getFileName() + " -> exit " + result.exitCode() + " after "
                    + result.took().toMillis() + " ms, origin requests " + origin.requests(uri(file)).size() + ": "
                    + lastLine(result.stderr()));
            if (result.exitCode() == 0) {
                assertThat(TestFiles.sha256(out.resolve(file.path().getFileName()))).isEqualTo(file.sha256());
                continue;
            }
            failed.add(i);
            assertThat(result.exitCode()).as("a download the local disk could not hold (8: no space): " + result).isEqualTo(8);
            assertThat(result.stderr().toLowerCase(Locale.ROOT)).as("dfget's message names the local disk: " + result)
                    .containsPattern("(no|not enough)( free)? space")
                    .containsAnyOf(storage.toString().toLowerCase(Locale.ROOT), "storage.dir");
            assertThat(origin.requests(uri(file))).as("origin requests of the download that ran out of space: a local"
                    + " write failure is not retried against the origin\n" + daemon).hasSizeLessThanOrEqualTo(REQUESTS_WITHOUT_RETRY);
            assertThat(out.resolve(file.path().getFileName())).as("no output of a failed download").doesNotExist();
        }
        assertThat(failed).as("80 MiB of downloads on a 64 MiB disk: one of them must have run out of space\n" + results)
                .isNotEmpty();

        // The partial task of each failed download is released: only finished tasks stay on the disk.
        long kept = (files.size() - failed.size()) * FILE_SIZE;
        await("the disk to hold no more than the finished tasks (" + kept + " bytes)").atMost(Duration.ofSeconds(10))
                .pollInterval(Duration.ofMillis(100))
                .until(() -> TmpfsMount.used(storage) <= kept + MiB);

        // Space comes back (the finished task is deleted): the very same command now succeeds.
        for (int i = 0; i < files.size(); i++) {
            if (!failed.contains(i)) {
                deleteTask(daemon, taskOf(daemon, url(files.get(i))));
            }
        }
        for (int i : failed) {
            await("the storage to be empty before the retry").atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100))
                    .until(() -> TmpfsMount.used(storage) <= MiB);
            Dfget.Result again = daemon.dfget().run(results.get(i).args());
            assertThat(again.exitCode()).as("the same command once space is back: " + again + "\n" + daemon).isZero();
            assertThat(TestFiles.sha256(out.resolve(files.get(i).path().getFileName()))).isEqualTo(files.get(i).sha256());
            deleteTask(daemon, taskOf(daemon, url(files.get(i))));
        }
    }

    private static String uri(TestFile file) {
        return "/slow/" + file.path().getFileName();
    }

    private static String url(TestFile file) {
        return origin.url(uri(file));
    }

    /** DeleteLocalTask over the socket, retried while the task is still busy (its last reader closing). */
    private static void deleteTask(DaemonProcess daemon, String taskId) {
        try (DaemonChannel c = DaemonChannel.uds(daemon.socket())) {
            await("task " + taskId + " to be deleted").atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100))
                    .ignoreExceptions()
                    .until(() -> DfdaemonDownloadGrpc.newBlockingStub(c.channel()).withDeadlineAfter(5, TimeUnit.SECONDS)
                            .deleteLocalTask(DeleteLocalTaskRequest.newBuilder().setTaskId(taskId).build()) != null);
        }
    }

    private static String taskOf(DaemonProcess daemon, String url) {
        for (String line : daemon.logLines("event=download_started")) {
            Matcher m = DOWNLOAD_STARTED.matcher(line);
            if (m.find() && m.group(2).equals(url)) {
                return m.group(1);
            }
        }
        throw new AssertionError("no download of " + url + " in the log:\n" + daemon);
    }

    private static String lastLine(String text) {
        List<String> lines = text.strip().lines().toList();
        return lines.isEmpty() ? "" : lines.getLast();
    }
}
