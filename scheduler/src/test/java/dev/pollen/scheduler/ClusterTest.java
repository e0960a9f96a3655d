package dev.pollen.scheduler;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Piece;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class ClusterTest {
    private static final String TASK = "t".repeat(64);
    private static final Duration WAIT = Duration.ofSeconds(5);

    private final MutableClock clock = new MutableClock();
    private final Cluster cluster = new Cluster(clock, new SchedulingConfig(3, 40, 50, Duration.ofMinutes(3)));

    private void host(String id, int type) {
        cluster.announceHost(Host.newBuilder().setId(id).setIp("10.0.0." + id.length()).setPort(4000).setDownloadPort(4005)
                .setType(type).build());
    }

    /** Registers, and reports the start the answer calls for, as a peer does: only then is it offered to others. */
    private Cluster.Decision join(String host, String task, String peer, String url, Duration wait) {
        Cluster.Decision d = cluster.register(host, task, peer, url, wait);
        if (d instanceof Cluster.Decision.Parents || d instanceof Cluster.Decision.BackToSource) {
            cluster.started(peer, d instanceof Cluster.Decision.BackToSource);
        }
        return d;
    }

    private static List<String> parents(Cluster.Decision d) {
        assertThat(d).isInstanceOf(Cluster.Decision.Parents.class);
        return ((Cluster.Decision.Parents) d).parents().stream().map(Cluster.Parent::peerId).toList();
    }

    @Test
    void theFirstPeerGoesToTheSourceAndLaterOnesGetItAsParent() {
        host("a", 0);
        host("b", 0);
        host("c", 0);
        assertThat(join("a", TASK, "pa", "http://o/f", WAIT)).isInstanceOf(Cluster.Decision.BackToSource.class);
        // a peer that is still downloading is offered: its pieces arrive over SyncPieces as they land
        assertThat(parents(join("b", TASK, "pb", "http://o/f", WAIT))).containsExactly("pa");
        assertThat(parents(join("c", TASK, "pc", "http://o/f", WAIT))).containsExactlyInAnyOrder("pa", "pb");
    }

    @Test
    void neverOffersAPeerOnTheSameHost() {
        host("a", 0);
        join("a", TASK, "pa1", "http://o/f", WAIT);
        assertThat(join("a", TASK, "pa2", "http://o/f", WAIT)).isInstanceOf(Cluster.Decision.BackToSource.class);
    }

    @Test
    void aParentThatFailedAChildIsNotOfferedToItAgain() {
        host("a", 0);
        host("b", 0);
        host("c", 0);
        join("a", TASK, "pa", "u", WAIT);
        join("b", TASK, "pb", "u", WAIT);
        join("c", TASK, "pc", "u", WAIT);
        cluster.pieceFailed("pc", "pa", false);
        assertThat(parents(cluster.reschedule("pc", List.of()))).containsExactly("pb");
        assertThat(cluster.reschedule("pc", List.of("pb"))).isInstanceOf(Cluster.Decision.BackToSource.class);
    }

    @Test
    void ranksFinishedAndSeedParentsFirst() {
        host("a", 0);
        host("s", 1);
        host("b", 0);
        host("c", 0);
        join("a", TASK, "pa", "u", WAIT);
        join("s", TASK, "ps", "u", WAIT);
        join("b", TASK, "pb", "u", WAIT);
        cluster.finished("pb", false);
        List<String> order = parents(join("c", TASK, "pc", "u", WAIT));
        assertThat(order.get(0)).isEqualTo("pb");
        assertThat(order.get(1)).isEqualTo("ps");
    }

    @Test
    void limitsTheCandidates() {
        for (String h : List.of("a", "bb", "ccc", "dddd", "eeeee")) {
            host(h, 0);
            join(h, TASK, "p" + h, "u", WAIT);
        }
        host("z", 0);
        assertThat(parents(join("z", TASK, "pz", "u", WAIT))).hasSize(3);
    }

    @Test
    void failedAndDepartedPeersAreNotParents() {
        host("a", 0);
        host("b", 0);
        host("c", 0);
        join("a", TASK, "pa", "u", WAIT);
        join("b", TASK, "pb", "u", WAIT);
        cluster.failed("pa", false);
        cluster.left("pb");
        assertThat(join("c", TASK, "pc", "u", WAIT)).isInstanceOf(Cluster.Decision.BackToSource.class);
    }

    @Test
    void silentHostsExpireWithTheirPeers() {
        host("a", 0);
        join("a", TASK, "pa", "u", WAIT);
        clock.advance(Duration.ofMinutes(2));
        host("b", 0);
        clock.advance(Duration.ofMinutes(2));
        assertThat(cluster.expireHosts()).isEqualTo(1);
        assertThat(cluster.peer("pa")).isEmpty();
        assertThat(cluster.hosts()).extracting(Host::getId).containsExactly("b");
    }

    @Test
    void aHostThatSaidHowOftenItAnnouncesExpiresAfterThreeMissedAnnouncements() {
        Host a = Host.newBuilder().setId("a").setIp("10.0.0.1").setPort(4000).setDownloadPort(4005).build();
        Host b = Host.newBuilder().setId("b").setIp("10.0.0.2").setPort(4000).setDownloadPort(4005).build();
        cluster.announceHost(a, Duration.ofSeconds(3));
        cluster.announceHost(b, Duration.ofSeconds(3));
        join("a", TASK, "pa", "u", WAIT);
        clock.advance(Duration.ofSeconds(6));
        cluster.announceHost(b, Duration.ofSeconds(3));
        assertThat(cluster.expireHosts()).as("two announcements missed: late, not dead").isZero();
        clock.advance(Duration.ofSeconds(3).plusMillis(1));
        cluster.announceHost(b, Duration.ofSeconds(3));
        assertThat(cluster.expireHosts()).isEqualTo(1);
        assertThat(cluster.peer("pa")).isEmpty();
        assertThat(cluster.hosts()).extracting(Host::getId).containsExactly("b");
    }

    @Test
    void peersWaitForATriggeredSeedInsteadOfAllGoingToTheSource() {
        host("a", 0);
        host("b", 0);
        host("s", 1);
        Cluster.Decision first = join("a", TASK, "pa", "u", WAIT);
        assertThat(first).isInstanceOfSatisfying(Cluster.Decision.Held.class, h -> assertThat(h.trigger().getId()).isEqualTo("s"));
        // the second peer waits too, and is never offered the held one as a parent
        assertThat(join("b", TASK, "pb", "u", WAIT)).isInstanceOfSatisfying(Cluster.Decision.Held.class,
                h -> assertThat(h.trigger()).isNull());
        assertThat(cluster.scheduleHeld("pa", true)).isNull();
        // the seed itself goes to the source, then serves both
        assertThat(join("s", TASK, "ps", "u", WAIT)).isInstanceOf(Cluster.Decision.BackToSource.class);
        assertThat(parents(cluster.scheduleHeld("pa", cluster.awaitingSeed(TASK, WAIT)))).containsExactly("ps");
        assertThat(parents(cluster.scheduleHeld("pb", cluster.awaitingSeed(TASK, WAIT)))).contains("ps");
    }

    @Test
    void aSeedThatNeverComesSendsHeldPeersToTheSource() {
        host("a", 0);
        host("s", 1);
        assertThat(join("a", TASK, "pa", "u", WAIT)).isInstanceOf(Cluster.Decision.Held.class);
        clock.advance(Duration.ofSeconds(6));
        assertThat(cluster.awaitingSeed(TASK, WAIT)).isFalse();
        assertThat(cluster.scheduleHeld("pa", false)).isInstanceOf(Cluster.Decision.BackToSource.class);
    }

    @Test
    void anUnknownHostIsToldToUseTheSource() {
        assertThat(cluster.register("ghost", TASK, "p", "u", WAIT)).isInstanceOf(Cluster.Decision.BackToSource.class);
    }

    @Test
    void aParentWhoseLastPieceWasFarSlowerRanksLastButIsStillOffered() {
        host("a", 0);
        host("b", 0);
        host("c", 0);
        join("a", TASK, "pa", "u", WAIT);
        join("b", TASK, "pb", "u", WAIT);
        cluster.finished("pa", false);
        // (com.google.protobuf.Duration: the piece's cost as dfdaemon reports it)
        for (long cost : new long[] {1_000_000, 1_000_000, 500_000_000}) {
            cluster.pieceFinished("pa", Piece.newBuilder()
                    .setCost(com.google.protobuf.Duration.newBuilder().setNanos((int) cost)).build(), true);
        }
        assertThat(parents(join("c", TASK, "pc", "u", WAIT))).containsExactly("pb", "pa");
    }
}
