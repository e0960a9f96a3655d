package dev.pollen.agent.peer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.agent.storage.TaskMetadata;
import dev.pollen.agent.vortex.VortexTransport;
import dev.pollen.policy.ParentRefresh;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.scheduler.v2.AnnouncePeerRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerResponse;
import dev.pollen.proto.scheduler.v2.NormalTaskResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A child asks its scheduler for more parents every refresh interval while it has fewer than
 * {@link ParentRefresh#ENOUGH_PARENTS} usable ones, follows the new ones beside the old, and stops when the scheduler
 * names nobody or the download ends. (The interval is 100 ms here instead of {@link ParentRefresh#INTERVAL}.)
 */
class ParentRefreshTest {
    static final String TASK = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    static final int MIB = 1 << 20;
    static final Duration REFRESH = Duration.ofMillis(100);

    private ScriptedScheduler scheduler;
    private ParentChannels channels;
    private VortexClient vortex;
    private PeerDownload peer;

    @BeforeEach
    void setUp() throws Exception {
        scheduler = new ScriptedScheduler(Duration.ofMinutes(1));
        channels = new ParentChannels(null);
        vortex = new VortexClient(new VortexClient.Options(VortexTransport.best(), 1, 2, Duration.ofSeconds(30), null));
    }

    @AfterEach
    void tearDown() {
        if (peer != null) {
            peer.close();
        }
        vortex.close();
        channels.close();
        scheduler.close();
    }

    static TaskMetadata task() {
        return TaskMetadata.started(TASK, "http://origin/f", 16L * MIB, 4L * MIB, true, Map.of(), Instant.now());
    }

    static Download download() {
        return Download.newBuilder().setUrl("http://origin/f").setActualContentLength(16L * MIB).setActualPieceLength(4L * MIB)
                .setActualPieceCount(4).build();
    }

    private void registerAndFollow() {
        P2p p2p = new P2p(scheduler.client, "127.0.0.1-child", channels, vortex, Duration.ofSeconds(2), Duration.ofSeconds(10),
                Duration.ofSeconds(5), REFRESH);
        peer = PeerDownload.register(p2p, TASK, download());
        assertThat(peer).isNotNull();
        peer.followParents(task());
        peer.reportStarted();
    }

    @Test
    void asksForMoreParentsWhileItHasTooFewKeepsTheOldOnesAndStopsWhenNobodyIsNamed() {
        scheduler.registerAnswer = scheduler.parents("a");
        scheduler.rescheduleAnswers.add(scheduler.parents("b"));
        scheduler.rescheduleAnswers.add(scheduler.parents("c", "d"));
        // then: NeedBackToSource, as Dragonfly's scheduler answers when it has no parent to offer

        registerAndFollow();

        await().atMost(Duration.ofSeconds(5)).until(() -> scheduler.reschedules() == 3);
        await().atMost(Duration.ofSeconds(5)).until(() -> scheduler.parentStreams.get() == 4);
        assertThat(scheduler.parentStreamsCancelled).as("earlier parents are kept when new ones come").hasValue(0);
        assertThat(scheduler.heard).filteredOn(h -> h.kind() == AnnouncePeerRequest.RequestCase.RESCHEDULE_PEER_REQUEST)
                .as("every parent is usable: none is excluded").allSatisfy(h ->
                        assertThat(h.request().getReschedulePeerRequest().getCandidateParentsList()).isEmpty());
        // Ten more intervals: a scheduler that named nobody is not asked again.
        await().during(REFRESH.multipliedBy(10)).atMost(REFRESH.multipliedBy(20)).until(() -> scheduler.reschedules() == 3);
        assertThat(scheduler.parentStreamsCancelled).hasValue(0);
    }

    @Test
    void anAnswerWithAnEmptyCandidateListNamesNobody() {
        scheduler.registerAnswer = scheduler.parents("a");
        scheduler.rescheduleDefault = n -> AnnouncePeerResponse.newBuilder()
                .setNormalTaskResponse(NormalTaskResponse.getDefaultInstance()).build();

        registerAndFollow();

        await().atMost(Duration.ofSeconds(5)).until(() -> scheduler.reschedules() == 1);
        await().during(REFRESH.multipliedBy(10)).atMost(REFRESH.multipliedBy(20)).until(() -> scheduler.reschedules() == 1);
    }

    @Test
    void aChildWithEnoughParentsDoesNotAskUntilOneIsLost() {
        scheduler.registerAnswer = scheduler.parents("a", "b", "c", "d", "e", "f");
        scheduler.rescheduleDefault = n -> scheduler.parents("g" + n);

        registerAndFollow();

        await().atMost(Duration.ofSeconds(5)).until(() -> scheduler.parentStreams.get() == ParentRefresh.ENOUGH_PARENTS);
        await().during(REFRESH.multipliedBy(8)).atMost(REFRESH.multipliedBy(16)).until(() -> scheduler.reschedules() == 0);

        scheduler.failOneParent();

        await().atMost(Duration.ofSeconds(5)).until(() -> scheduler.reschedules() >= 1);
        // The lost parent is excluded; the new one makes six again, and the child stops asking.
        assertThat(scheduler.heard).filteredOn(h -> h.kind() == AnnouncePeerRequest.RequestCase.RESCHEDULE_PEER_REQUEST)
                .first().satisfies(h -> assertThat(h.request().getReschedulePeerRequest().getCandidateParentsList()).hasSize(1));
        await().during(REFRESH.multipliedBy(8)).atMost(REFRESH.multipliedBy(16)).until(() -> scheduler.reschedules() == 1);
    }

    @Test
    void aChildWithEnoughParentsThatHoldNothingItLacksAsksForMoreOnceStarved() {
        scheduler.registerAnswer = scheduler.parents("a", "b", "c", "d", "e", "f");
        scheduler.rescheduleDefault = n -> scheduler.parents("g" + n);
        registerAndFollow();
        await().atMost(Duration.ofSeconds(5)).until(() -> scheduler.parentStreams.get() == ParentRefresh.ENOUGH_PARENTS);
        java.util.BitSet lacking = new java.util.BitSet();
        lacking.set(0, 4);

        assertThat(peer.choosePiece(lacking)).as("no parent announced any piece").isEqualTo(-1);

        await().atMost(Duration.ofSeconds(5)).until(() -> scheduler.reschedules() >= 1);
        assertThat(scheduler.heard).filteredOn(h -> h.kind() == AnnouncePeerRequest.RequestCase.RESCHEDULE_PEER_REQUEST)
                .first().satisfies(h -> assertThat(h.request().getReschedulePeerRequest().getDescription()).contains("nothing this peer lacks"));
        await().atMost(Duration.ofSeconds(5)).until(() -> scheduler.parentStreams.get() >= ParentRefresh.ENOUGH_PARENTS + 1);
        assertThat(scheduler.parentStreamsCancelled).as("the parents it had are kept").hasValue(0);
    }

    @Test
    void aFinishedDownloadStopsAsking() {
        scheduler.registerAnswer = scheduler.parents("a");
        scheduler.rescheduleDefault = n -> scheduler.parents("p" + n);
        registerAndFollow();
        await().atMost(Duration.ofSeconds(5)).until(() -> scheduler.reschedules() >= 2);

        peer.finished();
        int asked = scheduler.reschedules();

        await().during(REFRESH.multipliedBy(8)).atMost(REFRESH.multipliedBy(16)).until(() -> scheduler.reschedules() <= asked + 1);
    }
}
