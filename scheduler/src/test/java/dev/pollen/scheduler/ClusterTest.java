package dev.pollen.scheduler;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Network;
import dev.pollen.proto.common.v2.Piece;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ClusterTest {
    private static final String TASK = "t".repeat(64);
    private static final int PIECES = 100;

    private final MutableClock clock = new MutableClock();
    private final Cluster cluster = new Cluster(clock, SchedulingConfig.defaults());

    private void host(String id, int type) {
        host(cluster, id, type, 0);
    }

    private static void host(Cluster cluster, String id, int type, long maxTxBitsPerSecond) {
        cluster.announceHost(Host.newBuilder().setId(id).setIp("10.0.0." + id.length()).setPort(4000).setDownloadPort(4005)
                .setType(type).setNetwork(Network.newBuilder().setMaxTxBandwidth(maxTxBitsPerSecond)).build());
    }

    /** A peer that downloaded the whole task (from the source): a holder of every piece. */
    private static void done(Cluster cluster, String host, String peer) {
        Cluster.Decision d = cluster.register(host, TASK, peer, download());
        cluster.started(peer, d instanceof Cluster.Decision.BackToSource);
        cluster.finished(peer, d instanceof Cluster.Decision.BackToSource);
    }

    private static Download download() {
        return Download.newBuilder().setUrl("u").setActualContentLength(PIECES * 4L * 1024 * 1024)
                .setActualPieceLength(4L * 1024 * 1024).build();
    }

    private static void piece(Cluster cluster, String peer, int number) {
        cluster.pieceFinished(peer, Piece.newBuilder().setNumber(number).setParentId("elsewhere").build(), false);
    }

    /** Registers, and reports the start the answer calls for, as a peer does: only then is it offered to others. */
    private Cluster.Decision join(String host, String task, String peer, String url) {
        Cluster.Decision d = cluster.register(host, task, peer, url);
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
        assertThat(join("a", TASK, "pa", "http://o/f")).isInstanceOf(Cluster.Decision.BackToSource.class);
        // a peer that is still downloading is offered: its pieces arrive over SyncPieces as they land
        assertThat(parents(join("b", TASK, "pb", "http://o/f"))).containsExactly("pa");
        assertThat(parents(join("c", TASK, "pc", "http://o/f"))).containsExactlyInAnyOrder("pa", "pb");
    }

    @Test
    void neverOffersAPeerOnTheSameHost() {
        host("a", 0);
        join("a", TASK, "pa1", "http://o/f");
        // not given pa1; and as pa1 holds the task's back-to-source grant, pa2 waits rather than going to the origin
        assertThat(join("a", TASK, "pa2", "http://o/f")).isInstanceOf(Cluster.Decision.Held.class);
    }

    @Test
    void aParentThatFailedAChildIsNotOfferedToItAgain() {
        host("a", 0);
        host("b", 0);
        host("c", 0);
        join("a", TASK, "pa", "u");
        join("b", TASK, "pb", "u");
        join("c", TASK, "pc", "u");
        cluster.pieceFailed("pc", "pa", false);
        assertThat(parents(cluster.reschedule("pc", List.of()))).containsExactly("pb");
        // no parent left, and pa holds the task's back-to-source grant: pc waits
        assertThat(cluster.reschedule("pc", List.of("pb"))).isInstanceOf(Cluster.Decision.Held.class);
    }

    @Test
    void ranksFinishedAndSeedParentsFirst() {
        host("a", 0);
        host("s", 1);
        host("b", 0);
        host("c", 0);
        join("a", TASK, "pa", "u");
        join("s", TASK, "ps", "u");
        join("b", TASK, "pb", "u");
        cluster.finished("pb", false);
        List<String> order = parents(join("c", TASK, "pc", "u"));
        assertThat(order.get(0)).isEqualTo("pb");
        assertThat(order.get(1)).isEqualTo("ps");
    }

    @Test
    void limitsTheCandidates() {
        for (String h : List.of("a", "bb", "ccc", "dddd", "eeeee")) {
            host(h, 0);
            join(h, TASK, "p" + h, "u");
        }
        host("z", 0);
        assertThat(parents(join("z", TASK, "pz", "u"))).hasSize(3);
    }

    @Test
    void failedAndDepartedPeersAreNotParents() {
        host("a", 0);
        host("b", 0);
        host("c", 0);
        join("a", TASK, "pa", "u");
        join("b", TASK, "pb", "u");
        cluster.failed("pa", false);
        cluster.left("pb");
        assertThat(join("c", TASK, "pc", "u")).isInstanceOf(Cluster.Decision.BackToSource.class);
    }

    @Test
    void silentHostsExpireWithTheirPeers() {
        host("a", 0);
        join("a", TASK, "pa", "u");
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
        join("a", TASK, "pa", "u");
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
        Cluster.Decision first = join("a", TASK, "pa", "u");
        assertThat(first).isInstanceOfSatisfying(Cluster.Decision.Held.class, h -> assertThat(h.trigger().getId()).isEqualTo("s"));
        // the second peer waits too, and is never offered the held one as a parent
        assertThat(join("b", TASK, "pb", "u")).isInstanceOfSatisfying(Cluster.Decision.Held.class,
                h -> assertThat(h.trigger()).isNull());
        assertThat(cluster.scheduleHeld("pa")).isNull();
        // the seed itself goes to the source, then serves both
        assertThat(join("s", TASK, "ps", "u")).isInstanceOf(Cluster.Decision.BackToSource.class);
        assertThat(parents(cluster.scheduleHeld("pa"))).containsExactly("ps");
        assertThat(parents(cluster.scheduleHeld("pb"))).contains("ps");
    }

    @Test
    void aSeedThatNeverComesSendsOneHeldPeerToTheSourceAndTheOthersToIt() {
        host("a", 0);
        host("b", 0);
        host("s", 1);
        assertThat(join("a", TASK, "pa", "u")).isInstanceOf(Cluster.Decision.Held.class);
        assertThat(join("b", TASK, "pb", "u")).isInstanceOf(Cluster.Decision.Held.class);
        clock.advance(Duration.ofSeconds(6));
        assertThat(cluster.scheduleHeld("pa")).isInstanceOf(Cluster.Decision.BackToSource.class);
        // the limit (1) is taken: pb waits for pa, not for the origin
        assertThat(cluster.scheduleHeld("pb")).isNull();
        cluster.started("pa", true);
        assertThat(parents(cluster.scheduleHeld("pb"))).containsExactly("pa");
    }

    @Test
    void anUnknownHostIsToldToUseTheSource() {
        assertThat(cluster.register("ghost", TASK, "p", "u")).isInstanceOf(Cluster.Decision.BackToSource.class);
    }

    @Test
    void aParentWhoseLastPieceWasFarSlowerRanksLastButIsStillOffered() {
        host("a", 0);
        host("b", 0);
        host("c", 0);
        join("a", TASK, "pa", "u");
        join("b", TASK, "pb", "u");
        cluster.finished("pa", false);
        // (com.google.protobuf.Duration: the piece's cost as dfdaemon reports it)
        for (long cost : new long[] {1_000_000, 1_000_000, 500_000_000}) {
            cluster.pieceFinished("pa", Piece.newBuilder()
                    .setCost(com.google.protobuf.Duration.newBuilder().setNanos((int) cost)).build(), true);
        }
        assertThat(parents(join("c", TASK, "pc", "u"))).containsExactly("pb", "pa");
    }

    // Upload-aware selection (issue 9). Every test below fails on the score it replaces (0.4 pieces held, 0.3
    // assigned children out of 50 slots, 0.2 seed, 0.1 locality): that score ignores the uplink, ranks a seed
    // first for every child until some 33 children share it, and looks only at the first 40 peers registered.

    @Test
    void aSeedIsOneParentAmongOthersOnceOtherPeersHoldPieces() {
        host("s", 1);
        done(cluster, "s", "ps");
        for (String h : List.of("a", "bb", "ccc")) {
            host(h, 0);
            done(cluster, h, "p" + h);
        }
        Map<String, Integer> firsts = new HashMap<>();
        Map<String, Integer> offered = new HashMap<>();
        for (int i = 0; i < 8; i++) {
            host("child" + i, 0);
            List<String> given = parents(cluster.register("child" + i, TASK, "c" + i, download()));
            firsts.merge(given.get(0), 1, Integer::sum);
            given.forEach(p -> offered.merge(p, 1, Integer::sum));
        }
        // four holders of equal uplink, eight children of three parents each: six children each, the seed included
        assertThat(offered).containsOnlyKeys("ps", "pa", "pbb", "pccc").allSatisfy((parent, n) -> assertThat(n).isEqualTo(6));
        assertThat(firsts.getOrDefault("ps", 0)).isLessThanOrEqualTo(3);
        assertThat(firsts).hasSizeGreaterThanOrEqualTo(3);
    }

    @Test
    void childrenAreSpreadByUploadCapacityPerChild() {
        Cluster c = new Cluster(clock, SchedulingConfig.defaults().withCandidateParentLimit(1));
        host(c, "fast", 0, 1_000_000_000L);
        host(c, "slow", 0, 250_000_000L);
        done(c, "fast", "pfast");
        done(c, "slow", "pslow");
        Map<String, Integer> children = new HashMap<>();
        for (int i = 0; i < 10; i++) {
            host(c, "child" + i, 0, 0);
            children.merge(parents(c.register("child" + i, TASK, "c" + i, download())).get(0), 1, Integer::sum);
        }
        // 1000 / (n + 1) against 250 / (m + 1): the fast uplink takes four children for each of the slow one's
        assertThat(children.get("pfast")).isBetween(7, 9);
        assertThat(children.get("pslow")).isBetween(1, 3);
    }

    @Test
    void anIdleParentHoldingWhatTheChildLacksRanksAboveABusyOneHoldingEverything() {
        host("full", 0);
        host("half", 0);
        done(cluster, "full", "pfull");
        for (int i = 0; i < 3; i++) {
            host("busy" + i, 0);
            cluster.register("busy" + i, TASK, "b" + i, download());
        }
        assertThat(cluster.register("half", TASK, "phalf", download())).isInstanceOf(Cluster.Decision.Parents.class);
        cluster.started("phalf", false);
        for (int n = 0; n < PIECES / 2; n++) {
            piece(cluster, "phalf", n);
        }
        // pfull: 1 Gbit/s over 4 children (b0..b2, phalf) and this one; phalf: half of what the child lacks, no child
        host("child", 0);
        assertThat(parents(cluster.register("child", TASK, "child", download())).get(0)).isEqualTo("phalf");
    }

    @Test
    void aChildThatReschedulesIsGivenTheNewHolders() {
        Cluster c = new Cluster(clock, SchedulingConfig.defaults().withCandidateParentLimit(1));
        host(c, "s", 1, 0);
        done(c, "s", "ps");
        for (int i = 0; i < 4; i++) {
            host(c, "h" + i, 0, 0);
            assertThat(parents(c.register("h" + i, TASK, "p" + i, download()))).containsExactly("ps");
            c.started("p" + i, false);
        }
        // p1 has since fetched 40% of what p0 lacks: 40% of an idle 1 Gbit/s beats the seed's 1 Gbit/s over 4 children
        for (int n = 0; n < 40; n++) {
            piece(c, "p1", n);
        }
        assertThat(parents(c.reschedule("p0", List.of()))).containsExactly("p1");
    }

    @Test
    void aChildThatReschedulesIsNamedParentsOtherThanThoseItKeeps() {
        Cluster c = new Cluster(clock, SchedulingConfig.defaults().withCandidateParentLimit(2));
        for (String h : List.of("x", "y", "z")) {
            host(c, h, 0, 1_000_000_000L);
            done(c, h, "p" + h);
        }
        host(c, "child", 0, 0);
        List<String> first = parents(c.register("child", TASK, "child", download()));
        assertThat(first).hasSize(2);
        c.started("child", false);
        // the agent keeps both: only the third is new to it
        List<String> more = parents(c.reschedule("child", List.of()));
        assertThat(more).hasSize(1).doesNotContainAnyElementsOf(first);
        // nobody new left: the answer a fresh decision gives (the agent ignores the parents it has)
        assertThat(parents(c.reschedule("child", List.of()))).hasSize(2);
    }

    @Test
    void aDecisionLooksBeyondTheFirstPeersRegistered() {
        Cluster c = new Cluster(clock, SchedulingConfig.defaults(), new SplittableRandom(9));
        for (int i = 0; i < 400; i++) {
            host(c, "h" + i, 0, 0);
            done(c, "h" + i, "p" + i);
        }
        Set<String> offered = new HashSet<>();
        for (int i = 0; i < 100; i++) {
            host(c, "child" + i, 0, 0);
            offered.addAll(parents(c.register("child" + i, TASK, "c" + i, download())));
        }
        // 300 parents offered; the first 40 registrants alone could take at most 40 of them
        assertThat(offered).hasSizeGreaterThan(150);
    }

    // The origin is protected (issue 9): the old code sent every peer without a parent to the origin at once.

    @Test
    void backToSourceIsGrantedToALimitedNumberOfPeersAndFreedWhenOneFails() {
        host("a", 0);
        host("b", 0);
        host("c", 0);
        assertThat(cluster.register("a", TASK, "pa", download())).isInstanceOf(Cluster.Decision.BackToSource.class);
        // pa has not started yet: no parent, and the task's one grant is pa's
        assertThat(cluster.register("b", TASK, "pb", download())).isInstanceOf(Cluster.Decision.Held.class);
        assertThat(cluster.scheduleHeld("pb")).isNull();
        cluster.started("pa", true);
        cluster.failed("pa", true);
        assertThat(cluster.scheduleHeld("pb")).isInstanceOf(Cluster.Decision.BackToSource.class);
        assertThat(cluster.register("c", TASK, "pc", download())).isInstanceOf(Cluster.Decision.Held.class);
        cluster.started("pb", true);
        assertThat(parents(cluster.scheduleHeld("pc"))).containsExactly("pb");
    }

    @Test
    void aPeerThatLeavesOrFinishesFreesItsGrant() {
        Cluster c = new Cluster(clock, SchedulingConfig.defaults().withBackToSourceLimit(2));
        for (String h : List.of("a", "b", "c", "d", "e")) {
            host(c, h, 0, 0);
        }
        assertThat(c.register("a", TASK, "pa", download())).isInstanceOf(Cluster.Decision.BackToSource.class);
        assertThat(c.register("b", TASK, "pb", download())).isInstanceOf(Cluster.Decision.BackToSource.class);
        assertThat(c.register("c", TASK, "pc", download())).isInstanceOf(Cluster.Decision.Held.class);
        c.left("pa");
        assertThat(c.scheduleHeld("pc")).isInstanceOf(Cluster.Decision.BackToSource.class);
        assertThat(c.register("d", TASK, "pd", download())).isInstanceOf(Cluster.Decision.Held.class);
        c.started("pb", true);
        c.finished("pb", true);
        // pb now serves: pd gets it as a parent rather than the freed grant
        assertThat(parents(c.scheduleHeld("pd"))).containsExactly("pb");
    }

    @Test
    void aHeldPeerGoesToTheSourceAfterTheHoldTimeoutWhenTheGrantHolderNeverStarts() {
        host("a", 0);
        host("b", 0);
        cluster.register("a", TASK, "pa", download());
        assertThat(cluster.register("b", TASK, "pb", download())).isInstanceOf(Cluster.Decision.Held.class);
        clock.advance(Duration.ofSeconds(7));
        assertThat(cluster.scheduleHeld("pb")).isNull();
        clock.advance(Duration.ofSeconds(2));
        assertThat(cluster.scheduleHeld("pb")).isInstanceOf(Cluster.Decision.BackToSource.class);
    }

    @Test
    void aSeedAndAPeerThatAsksForTheSourceAreNeverRefused() {
        host("a", 0);
        host("b", 0);
        host("s", 1);
        assertThat(cluster.register("a", TASK, "pa", Download.newBuilder(download()).setNeedBackToSource(true).build()))
                .isInstanceOf(Cluster.Decision.BackToSource.class);
        assertThat(cluster.register("s", TASK, "ps", download())).isInstanceOf(Cluster.Decision.BackToSource.class);
        // both count: a third peer waits for them
        assertThat(cluster.register("b", TASK, "pb", download())).isInstanceOf(Cluster.Decision.Held.class);
    }
}
