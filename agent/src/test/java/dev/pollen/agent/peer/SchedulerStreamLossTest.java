package dev.pollen.agent.peer;

import static dev.pollen.proto.scheduler.v2.AnnouncePeerRequest.RequestCase.DOWNLOAD_PEER_FINISHED_REQUEST;
import static dev.pollen.proto.scheduler.v2.AnnouncePeerRequest.RequestCase.DOWNLOAD_PEER_STARTED_REQUEST;
import static dev.pollen.proto.scheduler.v2.AnnouncePeerRequest.RequestCase.DOWNLOAD_PIECE_BACK_TO_SOURCE_FINISHED_REQUEST;
import static dev.pollen.proto.scheduler.v2.AnnouncePeerRequest.RequestCase.DOWNLOAD_PIECE_FINISHED_REQUEST;
import static dev.pollen.proto.scheduler.v2.AnnouncePeerRequest.RequestCase.REGISTER_PEER_REQUEST;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.vortex.VortexTransport;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.proto.scheduler.v2.AnnouncePeerRequest;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A download whose AnnouncePeer stream breaks (the scheduler restarted) registers again on a new stream once its host
 * was announced since, reports its start and every piece it had reported, and goes on with its old parents and the
 * new ones; the scheduler hears the rest of the download on the new stream.
 */
class SchedulerStreamLossTest {
    private static final int MIB = 1 << 20;

    private ScriptedScheduler scheduler;
    private ParentChannels channels;
    private VortexClient vortex;
    private PeerDownload peer;

    @BeforeEach
    void setUp() throws Exception {
        scheduler = new ScriptedScheduler(Duration.ofMillis(100));
        channels = new ParentChannels(null);
        vortex = new VortexClient(new VortexClient.Options(VortexTransport.best(), 1, 2, Duration.ofSeconds(30), null));
        // No refresh during these tests: only the registrations and reports are looked at.
        P2p p2p = new P2p(scheduler.client, "127.0.0.1-child", channels, vortex, Duration.ofSeconds(2), Duration.ofSeconds(10),
                Duration.ofSeconds(5), Duration.ofMinutes(10));
        scheduler.registerAnswer = scheduler.parents("a");
        peer = PeerDownload.register(p2p, ParentRefreshTest.TASK, ParentRefreshTest.download());
        assertThat(peer).isNotNull();
        peer.followParents(ParentRefreshTest.task());
        peer.reportStarted();
    }

    @AfterEach
    void tearDown() {
        peer.close();
        vortex.close();
        channels.close();
        scheduler.close();
    }

    private static PieceRecord piece(int n) {
        return new PieceRecord(n, (long) n * 4 * MIB, 4L * MIB, 1000 + n);
    }

    private List<AnnouncePeerRequest.RequestCase> kinds(int stream) {
        return scheduler.onStream(stream).stream().map(ScriptedScheduler.Heard::kind).toList();
    }

    @Test
    void aRunningDownloadRegistersAgainUnderItsPeerIdAndReportsWhatItHolds() {
        String peerId = peer.peerId();
        peer.pieceFromParent(new ParentSet.Fetched(piece(0), "a", Instant.ofEpochMilli(1_000), Duration.ofMillis(70)));
        peer.pieceFromOrigin(piece(1), Instant.ofEpochMilli(2_000), Duration.ofMillis(90));
        await().until(() -> kinds(1).size() == 4);
        scheduler.registerAnswer = scheduler.parents("b");

        scheduler.breakStreams();

        await().atMost(Duration.ofSeconds(5)).until(() -> kinds(2).size() >= 4);
        List<ScriptedScheduler.Heard> second = scheduler.onStream(2);
        assertThat(kinds(2)).startsWith(REGISTER_PEER_REQUEST, DOWNLOAD_PEER_STARTED_REQUEST);
        assertThat(second.get(0).request().getPeerId()).as("the same peer id: the restarted scheduler does not know it").isEqualTo(peerId);
        assertThat(second.get(0).request().getRegisterPeerRequest().getDownload().getActualContentLength()).isEqualTo(16L * MIB);
        // What the old stream said of each piece, said again: the scheduler counts them, and offers this peer for them.
        Piece fromParent = second.stream().filter(h -> h.kind() == DOWNLOAD_PIECE_FINISHED_REQUEST).findFirst().orElseThrow()
                .request().getDownloadPieceFinishedRequest().getPiece();
        assertThat(fromParent.getNumber()).isZero();
        assertThat(fromParent.getParentId()).isEqualTo("a");
        assertThat(fromParent.getCost().getNanos()).isEqualTo(70_000_000);
        assertThat(second).filteredOn(h -> h.kind() == DOWNLOAD_PIECE_BACK_TO_SOURCE_FINISHED_REQUEST).singleElement()
                .satisfies(h -> assertThat(h.request().getDownloadPieceBackToSourceFinishedRequest().getPiece().getNumber()).isOne());
        // Only once the host was announced again: before, a restarted scheduler does not know it.
        int broke = scheduler.indexOf(h -> h.stream() == 1 && h.kind() == DOWNLOAD_PIECE_BACK_TO_SOURCE_FINISHED_REQUEST);
        int announced = scheduler.indexOf(h -> h.stream() == 0 && scheduler.indexOf(x -> x == h) > broke);
        assertThat(scheduler.indexOf(h -> h.stream() == 2)).isGreaterThan(announced).isGreaterThan(broke);
        // The old parent is kept, the new one followed too.
        await().atMost(Duration.ofSeconds(5)).until(() -> scheduler.parentStreams.get() == 2);
        assertThat(scheduler.parentStreamsCancelled).hasValue(0);

        peer.pieceFromParent(new ParentSet.Fetched(piece(2), "b", Instant.now(), Duration.ofMillis(50)));
        peer.finished();

        await().until(() -> kinds(2).contains(DOWNLOAD_PEER_FINISHED_REQUEST));
        assertThat(kinds(2)).containsSubsequence(REGISTER_PEER_REQUEST, DOWNLOAD_PEER_STARTED_REQUEST, DOWNLOAD_PIECE_FINISHED_REQUEST,
                DOWNLOAD_PIECE_FINISHED_REQUEST, DOWNLOAD_PEER_FINISHED_REQUEST);
        assertThat(kinds(1)).as("nothing more on the broken stream").hasSize(4);
    }

    @Test
    void aSchedulerThatStillKnowsThePeerAndRefusesItGetsANewPeerId() {
        String peerId = peer.peerId();
        peer.pieceFromParent(new ParentSet.Fetched(piece(0), "a", Instant.now(), Duration.ofMillis(70)));
        await().until(() -> kinds(1).size() == 3);
        scheduler.refusesKnownPeers = true;

        scheduler.breakStreams();

        await().atMost(Duration.ofSeconds(15)).until(() -> scheduler.heard.stream()
                .anyMatch(h -> h.stream() >= 3 && h.kind() == DOWNLOAD_PIECE_FINISHED_REQUEST));
        ScriptedScheduler.Heard refused = scheduler.onStream(2).get(0);
        assertThat(refused.request().getPeerId()).isEqualTo(peerId);
        ScriptedScheduler.Heard accepted = scheduler.heard.stream().filter(h -> h.stream() >= 3 && h.kind() == REGISTER_PEER_REQUEST)
                .findFirst().orElseThrow();
        assertThat(accepted.request().getPeerId()).isNotEqualTo(peerId).startsWith("127.0.0.1-child-01234567-");
        assertThat(peer.peerId()).isEqualTo(accepted.request().getPeerId());
        assertThat(kinds(accepted.stream())).startsWith(REGISTER_PEER_REQUEST, DOWNLOAD_PEER_STARTED_REQUEST,
                DOWNLOAD_PIECE_FINISHED_REQUEST);
    }
}
