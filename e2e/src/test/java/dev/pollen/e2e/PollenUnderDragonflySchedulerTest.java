package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.e2e.TestFiles.TestFile;
import dev.pollen.e2e.dragonfly.DragonflyPeer;
import dev.pollen.e2e.dragonfly.DragonflyScheduler;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Peer;
import dev.pollen.proto.scheduler.v2.AnnouncePeerRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mixed cluster B: Pollen agents under a scheduler that answers as Dragonfly's Go scheduler does
 * ({@link DragonflyScheduler}: dragonflyoss/dragonfly @66db4564 {@code scheduler/service/service_v2.go}
 * {@code handleRegisterPeerRequest}/{@code handleResource}, {@code scheduler/scheduling/scheduling.go
 * ScheduleCandidateParents}). The scheduler keeps the length the first registrant reports, so an agent that
 * registered without {@code actual_*} would make the task EMPTY for everyone after it.
 */
class PollenUnderDragonflySchedulerTest {
    private static final long PROBE = 1;

    @RegisterExtension
    static final Nginx origin = new Nginx();

    @RegisterExtension
    final Daemons daemons = new Daemons();

    @TempDir
    Path out;

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
    void theFirstAgentGoesToTheOriginAndTheOthersTakeThePiecesFromIt() {
        TestFile file = origin.createFile("mixed-b.bin", 64 * MiB, 81);
        String url = origin.url("/mixed-b.bin");
        long pieceLength = DragonflyPeer.pieceLength(file.size());
        long pieceCount = (file.size() + pieceLength - 1) / pieceLength;
        DaemonProcess first = MixedCluster.startAgent(daemons, "127.0.0.2", scheduler.address());
        DaemonProcess second = MixedCluster.startAgent(daemons, "127.0.0.3", scheduler.address());
        DaemonProcess third = MixedCluster.startAgent(daemons, "127.0.0.4", scheduler.address());

        Dfget.Result firstGet = first.dfget().download(url, out.resolve("first.bin"));
        assertThat(firstGet.exitCode()).as(firstGet + "\n" + first).isZero();
        String task = MixedCluster.taskOf(first, url);
        Dfget.Running secondGet = second.dfget().startDownload(url, out.resolve("second.bin"));
        Dfget.Running thirdGet = third.dfget().startDownload(url, out.resolve("third.bin"));
        Dfget.Result secondResult = secondGet.await(Duration.ofSeconds(60));
        Dfget.Result thirdResult = thirdGet.await(Duration.ofSeconds(60));

        String context = "\nreceived: " + summary(scheduler.received()) + "\n" + first + "\n" + second + "\n" + third;
        assertThat(secondResult.exitCode()).as(secondResult + context).isZero();
        assertThat(thirdResult.exitCode()).as(thirdResult + context).isZero();
        for (String name : List.of("first.bin", "second.bin", "third.bin")) {
            assertThat(TestFiles.sha256(out.resolve(name))).as(name).isEqualTo(file.sha256());
        }
        assertThat(task).as("Pollen's task id is Dragonfly's (id_generator task_id)").isEqualTo(DragonflyPeer.taskId(url));

        // dfdaemon_download.rs download_task: actual_* from the origin's answer, in every registration.
        List<AnnouncePeerRequest> registrations = scheduler.registrations(task);
        assertThat(registrations).as("registrations" + context).hasSize(3);
        for (AnnouncePeerRequest r : registrations) {
            Download d = r.getRegisterPeerRequest().getDownload();
            assertThat(d.hasActualContentLength() && d.hasActualPieceLength() && d.hasActualPieceCount())
                    .as("actual_* set in the registration of " + r.getPeerId() + ": " + d).isTrue();
            assertThat(List.of(d.getActualContentLength(), d.getActualPieceLength(), d.getActualPieceCount()))
                    .as("actual_content_length, actual_piece_length, actual_piece_count of " + r.getPeerId())
                    .containsExactly(file.size(), pieceLength, pieceCount);
        }

        // The first registrant of a Pending task, with no seed peers: NeedBackToSource at once.
        String firstPeer = peerOn(registrations, "127.0.0.2-");
        assertThat(scheduler.sentTo(firstPeer)).as("answers to the first agent" + context)
                .first().satisfies(r -> assertThat(r.hasNeedBackToSourceResponse()).as(r.toString()).isTrue());
        assertThat(MixedCluster.backToSource(first, task)).as("the first agent says why it went to the origin\n" + first)
                .singleElement().asString().containsPattern("reason=\\S+");
        assertThat(scheduler.peerState(firstPeer)).as("the first agent's peer state").isEqualTo("Succeeded");

        // The later ones: NormalTaskResponse naming an earlier agent, which they took every byte from.
        for (String prefix : List.of("127.0.0.3-", "127.0.0.4-")) {
            String peer = peerOn(registrations, prefix);
            AnnouncePeerResponse answer = scheduler.sentTo(peer).getFirst();
            assertThat(answer.hasNormalTaskResponse()).as("first answer to " + peer + ": " + answer + context).isTrue();
            assertThat(answer.getNormalTaskResponse().getCandidateParentsList()).extracting(Peer::getId)
                    .as("candidates for " + peer).contains(firstPeer);
        }
        assertThat(secondResult.summary().peers()).as(secondResult.toString()).isEqualTo(file.size());
        assertThat(thirdResult.summary().peers()).as(thirdResult.toString()).isEqualTo(file.size());
        assertThat(origin.bytesSent("/mixed-b.bin")).as("bytes the origin sent").isBetween(file.size(), file.size() + 3 * PROBE);
    }

    @Test
    void anEmptyFileIsWrittenEmpty() throws Exception {
        origin.createFile("empty-b.bin", 0, 82);
        String url = origin.url("/empty-b.bin");
        DaemonProcess agent = MixedCluster.startAgent(daemons, "127.0.0.2", scheduler.address());

        Dfget.Result result = agent.dfget().download(url, out.resolve("empty.bin"));

        assertThat(result.exitCode()).as(result + "\n" + agent).isZero();
        assertThat(Files.size(out.resolve("empty.bin"))).isZero();
        // The Rust dfdaemon never asks the scheduler about an empty task; an agent that does must say length 0
        // and is answered EmptyTaskResponse (task.go SizeScope EMPTY).
        String task = MixedCluster.taskOf(agent, url);
        for (AnnouncePeerRequest r : scheduler.registrations(task)) {
            assertThat(r.getRegisterPeerRequest().getDownload().hasActualContentLength()).as(r.toString()).isTrue();
            assertThat(scheduler.sentTo(r.getPeerId())).first()
                    .satisfies(a -> assertThat(a.hasEmptyTaskResponse()).as(a.toString()).isTrue());
        }
    }

    private static String peerOn(List<AnnouncePeerRequest> registrations, String hostPrefix) {
        return registrations.stream().filter(r -> r.getHostId().startsWith(hostPrefix)).map(AnnouncePeerRequest::getPeerId)
                .findFirst().orElseThrow(() -> new AssertionError("no registration from " + hostPrefix + ": " + registrations));
    }

    static String summary(List<AnnouncePeerRequest> received) {
        StringBuilder b = new StringBuilder();
        for (AnnouncePeerRequest r : received) {
            b.append("\n  ").append(r.getHostId()).append(' ').append(r.getRequestCase());
        }
        return b.toString();
    }
}
