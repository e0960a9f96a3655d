package dev.pollen.scheduler.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Peer;
import dev.pollen.scheduler.SchedulerServer;
import dev.pollen.scheduler.SchedulingConfig;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** A scheduler that restarts (it keeps everything in memory) is noticed, and told again what this host holds. */
class SchedulerRestartTest {
    private static final String TASK = "ab".repeat(32);
    private static final Duration INTERVAL = Duration.ofMillis(200);

    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final List<String> forgotten = new CopyOnWriteArrayList<>();
    private final List<String> tasksForgotten = new CopyOnWriteArrayList<>();
    private SchedulerServer scheduler;

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : closeables.reversed()) {
            c.close();
        }
        if (scheduler != null) {
            scheduler.close();
        }
    }

    private SchedulerServer startScheduler(int port) throws Exception {
        scheduler = SchedulerServer.start(new InetSocketAddress("127.0.0.1", port), SchedulingConfig.defaults(), Clock.systemUTC());
        return scheduler;
    }

    private SchedulerClient client(String hostId, String address, boolean listen) {
        Host host = Host.newBuilder().setId(hostId).setIp("127.0.0.1").setPort(4000).setDownloadPort(4005).build();
        SchedulerClient c = new SchedulerClient(List.of(address), () -> host, INTERVAL, Clock.systemUTC());
        if (listen) {
            c.onForgetting(new SchedulerClient.Forgetting() {
                @Override
                public void forgot(String scheduler, String why) {
                    forgotten.add(scheduler + " " + why);
                }

                @Override
                public void forgotTasks(String scheduler, java.util.Set<String> taskIds) {
                    taskIds.forEach(t -> tasksForgotten.add(scheduler + " " + t));
                }
            });
        }
        c.start();
        closeables.add(c);
        return c;
    }

    private static Download held() {
        return Download.newBuilder().setUrl("http://origin/f").setActualContentLength(40L << 20).setActualPieceLength(4L << 20)
                .setActualPieceCount(10).build();
    }

    @Test
    void aRestartedSchedulerIsNoticedOnceAndWhatTheHostHeldIsAnnouncedAgain() throws Exception {
        int port = startScheduler(0).port();
        String address = "127.0.0.1:" + port;
        SchedulerClient holder = client("host-a", address, true);
        await("the first contact").atMost(Duration.ofSeconds(5)).until(() -> !forgotten.isEmpty());
        assertThat(forgotten.get(0)).isEqualTo(address + " first_contact");
        holder.announceHeld(holder.ownerOf(TASK), TASK, "peer-a", held(), Duration.ofSeconds(5));
        assertParentIs(client("host-b", address, false), "peer-b", "peer-a");

        scheduler.close();
        startScheduler(port);

        // The holder finished a peer there: StatPeer of it tells the restarted scheduler lost it.
        await("the restart to be noticed").atMost(Duration.ofSeconds(10))
                .until(() -> forgotten.stream().anyMatch(f -> f.startsWith(address + " ") && f.endsWith("+peer_not_found")));
        holder.announceHeld(address, TASK, "peer-a2", held(), Duration.ofSeconds(5));
        int noticed = forgotten.size();
        // Every later announcement finds the re-announced peer: the scheduler is not suspected again.
        await().during(Duration.ofMillis(5 * INTERVAL.toMillis())).atMost(Duration.ofSeconds(5)).until(() -> forgotten.size() == noticed);
        assertParentIs(client("host-c", address, false), "peer-c", "peer-a2");
    }

    @Test
    void aTaskThatFinishedWhileTheSchedulerWasAwayIsNamedOnceItIsBack() throws Exception {
        int port = startScheduler(0).port();
        String address = "127.0.0.1:" + port;
        SchedulerClient holder = client("host-a", address, true);
        await().atMost(Duration.ofSeconds(5)).until(() -> !forgotten.isEmpty());
        String downloading = "cd".repeat(32);
        SchedulerClient.Registration r = holder.register(downloading, "peer-d", held(), Duration.ofSeconds(5));
        closeables.add(r.session());
        r.session().started(true);

        scheduler.close();
        startScheduler(port);
        await("the restart to be noticed").atMost(Duration.ofSeconds(10)).until(() -> noticedRestart() >= 0);
        int noticed = forgotten.size();
        r.session().finished(true);

        await().atMost(Duration.ofSeconds(5)).until(() -> tasksForgotten.equals(List.of(address + " " + downloading)));
        assertThat(forgotten).hasSize(noticed);
    }

    @Test
    void aMetadataOnlyAnnouncementMakesThePeerAFinishedParentHoldingEveryPiece() throws Exception {
        String address = "127.0.0.1:" + startScheduler(0).port();
        SchedulerClient holder = client("host-a", address, false);
        holder.announceHeld(address, TASK, "peer-a", held(), Duration.ofSeconds(5));
        Peer parent = assertParentIs(client("host-b", address, false), "peer-b", "peer-a");
        assertThat(parent.getState()).isEqualTo("Succeeded");
        assertThat(parent.getTask().getContentLength()).isEqualTo(40L << 20);
        assertThat(parent.getTask().getPieceCount()).isEqualTo(10);
    }

    @Test
    void aSchedulerThatAnswersAMetadataOnlyRegistrationWithAnythingElseLeavesThePeerUnannounced() throws Exception {
        String address = "127.0.0.1:" + startScheduler(0).port();
        SchedulerClient holder = client("host-a", address, false);
        // Unannounced hosts are sent to the source: the answer a scheduler without metadata_only would give.
        SchedulerClient stranger = new SchedulerClient(List.of(address), () -> Host.newBuilder().setId("stranger").build(),
                INTERVAL, Clock.systemUTC());
        closeables.add(stranger);
        assertThatThrownBy(() -> stranger.announceHeld(address, TASK, "peer-s", held(), Duration.ofSeconds(5)))
                .isInstanceOf(SchedulerUnavailableException.class)
                .hasMessageContaining("NEED_BACK_TO_SOURCE_RESPONSE");
        SchedulerClient.Registration r = holder.register(TASK, "peer-a", held(), Duration.ofSeconds(5));
        closeables.add(r.session());
        assertThat(r.decision()).isInstanceOf(Decision.BackToSource.class);
    }

    /** The index of the first notice that names the scheduler's restart, -1 before one came. */
    private int noticedRestart() {
        for (int i = 0; i < forgotten.size(); i++) {
            if (forgotten.get(i).contains("scheduler_back") || forgotten.get(i).contains("reconnected")) {
                return i;
            }
        }
        return -1;
    }

    private Peer assertParentIs(SchedulerClient child, String childPeer, String parentPeer) throws Exception {
        SchedulerClient.Registration r = child.register(TASK, childPeer, held().toBuilder().clearActualContentLength().build(),
                Duration.ofSeconds(5));
        r.session().close();
        assertThat(r.decision()).isInstanceOf(Decision.Parents.class);
        List<Peer> parents = ((Decision.Parents) r.decision()).parents();
        assertThat(parents).extracting(Peer::getId).containsExactly(parentPeer);
        return parents.get(0);
    }
}
