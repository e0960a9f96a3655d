package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.e2e.TestFiles.TestFile;
import dev.pollen.e2e.dragonfly.DragonflyPeer;
import dev.pollen.proto.common.v2.Task;
import dev.pollen.proto.scheduler.v2.SchedulerGrpc;
import dev.pollen.proto.scheduler.v2.StatTaskRequest;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mixed cluster A: Pollen's real scheduler, a peer that behaves as Dragonfly's Rust dfdaemon does
 * ({@link DragonflyPeer}: dragonflyoss/client @ff17c0b7 {@code resource/task.rs download_partial_with_scheduler},
 * {@code grpc/dfdaemon_upload.rs stat_task/sync_pieces}, {@code dragonfly-client-storage/src/server/tcp.rs}) that
 * fetched the file from the origin, and Pollen agents that take it from that peer. The Dragonfly peer's StatTask
 * answers with the scheduler's view of the task, so the children trust it only if Pollen's scheduler stores and
 * returns what peers report, as Dragonfly's does ({@code service_v2.go StatTask}).
 */
class DragonflyPeerUnderPollenSchedulerTest {
    private static final long PROBE = 1;

    @RegisterExtension
    static final Nginx origin = new Nginx();

    @RegisterExtension
    final Daemons daemons = new Daemons();

    @TempDir
    Path out;

    @TempDir
    Path work;

    @Test
    void pollenAgentsTakeTheFileFromADragonflyPeerAndTheOriginSendsItOnce() {
        TestFile file = origin.createFile("mixed-a.bin", 64 * MiB, 91);
        String url = origin.url("/mixed-a.bin");
        String task = DragonflyPeer.taskId(url);
        try (SchedulerProcess scheduler = SchedulerProcess.start(work.resolve("scheduler"), List.of(), "--port=0", "--listen=127.0.0.1");
                DragonflyPeer dragonfly = DragonflyPeer.start("127.0.0.10", "dragonfly-peer", "127.0.0.1:" + scheduler.port(),
                        work.resolve("dragonfly"))) {
            String address = "127.0.0.1:" + scheduler.port();
            DragonflyPeer.Result fetched = dragonfly.download(url);
            assertThat(fetched.responses()).as("Pollen's scheduler's answer to the Dragonfly peer")
                    .singleElement().satisfies(r -> assertThat(r.hasNeedBackToSourceResponse()).as(r.toString()).isTrue());

            List<DaemonProcess> agents = new ArrayList<>();
            for (String ip : List.of("127.0.0.2", "127.0.0.3", "127.0.0.4")) {
                agents.add(MixedCluster.startAgent(daemons, ip, address));
            }
            List<Dfget.Running> running = new ArrayList<>();
            for (int i = 0; i < agents.size(); i++) {
                running.add(agents.get(i).dfget().startDownload(url, out.resolve("agent" + i + ".bin")));
            }
            java.util.function.Supplier<String> context = () -> "\nDragonfly peer: vortex served " + dragonfly.vortexServed()
                    + ", not found " + dragonfly.vortexNotFound() + ", SyncPieces " + dragonfly.syncPiecesCalls()
                    + ", StatTask " + dragonfly.statTaskCalls() + "\n" + scheduler;
            for (int i = 0; i < agents.size(); i++) {
                Dfget.Result r = running.get(i).await(Duration.ofSeconds(90));
                DaemonProcess agent = agents.get(i);
                assertThat(r.exitCode()).as(() -> r + "\n" + agent + context.get()).isZero();
                assertThat(TestFiles.sha256(out.resolve("agent" + i + ".bin"))).as("agent" + i + "'s output").isEqualTo(file.sha256());
                assertThat(MixedCluster.taskOf(agents.get(i), url)).as("Pollen's task id is Dragonfly's").isEqualTo(task);
            }

            assertThat(dragonfly.vortexServed()).as(() -> "pieces the Dragonfly peer served over Vortex" + context.get()).isPositive();
            assertThat(origin.bytesSent("/mixed-a.bin")).as(() -> "bytes the origin sent" + context.get())
                    .isBetween(file.size(), file.size() + 4 * PROBE);

            ManagedChannel channel = NettyChannelBuilder.forTarget(address).usePlaintext().build();
            try {
                Task stat = SchedulerGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                        .statTask(StatTaskRequest.newBuilder().setHostId(dragonfly.hostId()).setTaskId(task).build());
                assertThat(stat.getContentLength()).as("StatTask content_length: " + stat).isEqualTo(file.size());
                assertThat(stat.getPieceCount()).as("StatTask piece_count").isEqualTo(file.size() / fetched.pieceLength());
                assertThat(stat.getState()).as("StatTask state (task.go FSM strings)").isIn("Succeeded", "Running");
            } finally {
                channel.shutdownNow();
            }
            assertThat(scheduler.errors()).as("the scheduler's errors").isEmpty();
            assertThat(fetched.streamEndedByScheduler())
                    .as("Pollen's scheduler closed the announce stream after DownloadPeerBackToSourceFinished (Go returns nil; "
                            + "the Rust client waits for it in task.rs)").isTrue();
        }
    }
}
