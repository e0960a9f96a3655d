package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.e2e.TestFiles.TestFile;
import dev.pollen.e2e.dragonfly.DragonflyPeer;
import dev.pollen.e2e.dragonfly.DragonflyScheduler;
import dev.pollen.proto.common.v2.Peer;
import dev.pollen.proto.dfdaemon.v2.DeleteTaskRequest;
import dev.pollen.proto.dfdaemon.v2.DfdaemonDownloadGrpc;
import dev.pollen.proto.scheduler.v2.AnnouncePeerRequest;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A scheduler that still names a parent that no longer has the task. Dragonfly's scheduler keeps a peer after its
 * dfdaemon dropped the task ({@code service_v2.go}: nothing but GC removes it), and the Rust child drops a parent
 * whose {@code SyncPieces} fails at once ({@code resource/piece_collector.rs}: "task .. not found" logged, parent
 * removed). A Pollen child must do the same: drop it in well under a second, finish from the origin (or another
 * parent), and say once why it went to the origin.
 */
class StaleParentTest {
    /** Loose: the Dragonfly scheduler's 4 retries after a Reschedule take about 2 s; the file a second. */
    private static final Duration BUDGET = Duration.ofSeconds(5);

    @RegisterExtension
    static final Nginx origin = new Nginx();

    @RegisterExtension
    final Daemons daemons = new Daemons();

    @TempDir
    Path out;

    @TempDir
    Path work;

    private DragonflyScheduler scheduler;

    @BeforeEach
    void startScheduler() {
        scheduler = DragonflyScheduler.start();
    }

    @AfterEach
    void stopScheduler() {
        scheduler.close();
    }

    @Test
    void aDragonflyParentWithoutTheTaskIsDroppedAtOnce() {
        TestFile file = origin.createFile("stale-df.bin", 32 * MiB, 101);
        String url = origin.url("/stale-df.bin");
        String task = DragonflyPeer.taskId(url);
        try (DragonflyPeer stale = DragonflyPeer.start("127.0.0.10", "dragonfly-stale", scheduler.address(), work)) {
            String stalePeer = stale.hostId() + "-gone";
            // The scheduler's record of a peer that finished the task, whose dfdaemon has since lost it.
            scheduler.injectPeer(task, url, file.size(), DragonflyPeer.pieceLength(file.size()), stalePeer, stale.hostId(), "Succeeded");
            DaemonProcess child = MixedCluster.startAgent(daemons, "127.0.0.2", scheduler.address());

            long started = System.nanoTime();
            Dfget.Result result = child.dfget().download(url, out.resolve("child.bin"));
            Duration took = Duration.ofNanos(System.nanoTime() - started);

            String context = "\nstale parent: SyncPieces " + stale.syncPiecesCalls() + ", StatTask " + stale.statTaskCalls()
                    + ", Vortex not found " + stale.vortexNotFound() + "\nscheduler heard:" + PollenUnderDragonflySchedulerTest.summary(scheduler.received())
                    + "\nscheduler answered: " + scheduler.sent() + "\n" + child;
            assertThat(result.exitCode()).as(result + context).isZero();
            assertThat(TestFiles.sha256(out.resolve("child.bin"))).isEqualTo(file.sha256());
            String childPeer = registeredPeer(task, "127.0.0.2-");
            assertThat(scheduler.sentTo(childPeer).getFirst().getNormalTaskResponse().getCandidateParentsList())
                    .extracting(Peer::getId).as("the scheduler offered the stale parent").containsExactly(stalePeer);
            assertThat(took).as("download time with a stale parent" + context).isLessThan(BUDGET);
            assertThat(MixedCluster.backToSource(child, task)).as("back-to-source lines" + context)
                    .singleElement().asString().containsPattern("reason=\\S+");
            assertThat(stale.syncPiecesCalls() + stale.statTaskCalls()).as("calls to the stale parent" + context)
                    .isLessThanOrEqualTo(4);
        }
    }

    @Test
    void aPollenParentThatDeletedTheTaskIsDroppedAtOnce() {
        TestFile file = origin.createFile("stale-pollen.bin", 32 * MiB, 102);
        String url = origin.url("/stale-pollen.bin");
        DaemonProcess parent = MixedCluster.startAgent(daemons, "127.0.0.3", scheduler.address());
        DaemonProcess child = MixedCluster.startAgent(daemons, "127.0.0.2", scheduler.address());
        Dfget.Result own = parent.dfget().download(url, out.resolve("parent.bin"));
        assertThat(own.exitCode()).as(own + "\n" + parent).isZero();
        String task = MixedCluster.taskOf(parent, url);
        String parentPeer = registeredPeer(task, "127.0.0.3-");
        // The scheduler's view is kept as it is now, whatever the parent tells it when it deletes the task.
        scheduler.forceCandidates(task, parentPeer);
        try (DaemonChannel uds = DaemonChannel.uds(parent.socket())) {
            // FAILED_PRECONDITION while the task is still being released after the download: retried, as it says.
            await("the parent to delete the task").atMost(Duration.ofSeconds(10))
                    .ignoreExceptionsMatching(e -> e instanceof io.grpc.StatusRuntimeException s
                            && s.getStatus().getCode() == io.grpc.Status.Code.FAILED_PRECONDITION)
                    .until(() -> {
                        DfdaemonDownloadGrpc.newBlockingStub(uds.channel()).withDeadlineAfter(10, TimeUnit.SECONDS)
                                .deleteTask(DeleteTaskRequest.newBuilder().setTaskId(task).build());
                        return true;
                    });
        }

        long started = System.nanoTime();
        Dfget.Result result = child.dfget().download(url, out.resolve("child.bin"));
        Duration took = Duration.ofNanos(System.nanoTime() - started);

        String context = "\nscheduler heard:" + PollenUnderDragonflySchedulerTest.summary(scheduler.received())
                + "\nscheduler answered: " + scheduler.sent() + "\n" + child + "\n" + parent;
        assertThat(result.exitCode()).as(result + context).isZero();
        assertThat(TestFiles.sha256(out.resolve("child.bin"))).isEqualTo(file.sha256());
        assertThat(took).as("download time with a stale parent" + context).isLessThan(BUDGET);
        assertThat(MixedCluster.backToSource(child, task)).as("back-to-source lines" + context)
                .singleElement().asString().containsPattern("reason=\\S+");
        long statFailures = child.logLines("event=parent_stat_failed").size();
        assertThat(statFailures).as("StatTask failures logged against the stale parent" + context).isLessThanOrEqualTo(2);
    }

    private String registeredPeer(String task, String hostPrefix) {
        return scheduler.registrations(task).stream().filter(r -> r.getHostId().startsWith(hostPrefix))
                .map(AnnouncePeerRequest::getPeerId).findFirst()
                .orElseThrow(() -> new AssertionError("no registration from " + hostPrefix + ": " + scheduler.received()));
    }
}
