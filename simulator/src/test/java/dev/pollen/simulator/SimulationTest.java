package dev.pollen.simulator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.scheduler.SchedulingCore;
import dev.pollen.scheduler.SchedulingConfig;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class SimulationTest {
    private static final long MIB = 1L << 20;

    /** {@code agents} agents pulling {@code file} bytes, nothing random unless asked: no latency, churn or late start. */
    private static SimConfig swarm(int agents, long file, double up, double down, double origin, boolean seedPeer, double churn,
                                   double late, long seed) {
        return new SimConfig(agents, file, 4 * MIB, up, down, up, origin, seedPeer, 0, 0, churn, late, late > 0 ? 10 : 0, 0, 0, 0,
                1, seed, SimConfig.defaultSuperSeeding(), SchedulingConfig.defaults());
    }

    @Test
    void theSameSeedGivesTheSameRun() {
        SimConfig c = new SimConfig(60, 64 * MIB, 4 * MIB, Units.rate("400mbit"), Units.rate("1gbit"), Units.rate("400mbit"),
                Units.rate("400mbit"), true, 0.0005, 0.01, 0.05, 0.05, 5, 0, 0.2, 0.25, 4, 42, SimConfig.defaultSuperSeeding(), SchedulingConfig.defaults());
        SimResult a = new Simulation(c).run();
        SimResult b = new Simulation(c).run();
        assertThat(b.completions()).containsExactly(a.completions());
        assertThat(b.events()).isEqualTo(a.events());
        assertThat(b.originBytesOverFile()).isEqualTo(a.originBytesOverFile());
        assertThat(b.uploadedMaxBytes()).isEqualTo(a.uploadedMaxBytes());
        assertThat(b.decisions()).isEqualTo(a.decisions());
        // and another seed is another run
        SimConfig other = new SimConfig(60, 64 * MIB, 4 * MIB, c.agentUp(), c.agentDown(), c.seedUp(), c.originUp(), true, 0.0005,
                0.01, 0.05, 0.05, 5, 0, 0.2, 0.25, 4, 43, SimConfig.defaultSuperSeeding(), SchedulingConfig.defaults());
        assertThat(new Simulation(other).run().completions()).isNotEqualTo(a.completions());
    }

    /**
     * Origin and one agent, no latency: the scheduler sends the agent to the source (no peer, no seed), its 8 piece
     * requests share the narrower link end to end, so the file takes exactly size / min(origin up, agent down).
     */
    @Test
    void twoNodesTakeTheFileOverTheNarrowerLink() {
        long file = 64 * MIB;
        double origin = 10e6;
        SimResult originBound = new Simulation(swarm(1, file, 5e6, Units.UNLIMITED, origin, false, 0, 0, 1)).run();
        assertThat(originBound.finished()).isEqualTo(1);
        assertThat(originBound.completion(1.0)).isCloseTo(file / origin, within(1e-6));
        // the limit by hand: max(F / origin, F / down, 1 × F / (origin + agent up)) = F / origin
        assertThat(originBound.limit()).isCloseTo(file / origin, within(1e-9));

        double down = 4e6;
        SimResult downBound = new Simulation(swarm(1, file, 5e6, down, origin, false, 0, 0, 1)).run();
        assertThat(downBound.completion(1.0)).isCloseTo(file / down, within(1e-6));
        assertThat(downBound.limit()).isCloseTo(file / down, within(1e-9));
    }

    /** A piece request waits a round trip before its bytes flow: one piece at a time shows every round trip. */
    @Test
    void latencyDelaysRegistrationAndEveryRequest() {
        long file = 4 * MIB;
        double origin = 4 * MIB;
        // one piece, agent latency 50 ms one-way (the origin's is 0): register + answer 100 ms, request round trip 100 ms, 1 s of bytes
        SimConfig c = new SimConfig(1, file, 4 * MIB, 1e9, Units.UNLIMITED, 1e9, origin, false, 0.05, 0.05, 0, 0, 0, 0, 0, 0, 1, 1,
                SimConfig.defaultSuperSeeding(), SchedulingConfig.defaults());
        assertThat(new Simulation(c).run().completion(1.0)).isCloseTo(0.1 + 0.1 + 1.0, within(1e-6));
    }

    @Test
    void theOriginSendsTheFileOnceWhenTheSeedServesEveryone() {
        SimConfig c = swarm(8, 64 * MIB, Units.rate("400mbit"), Units.UNLIMITED, Units.rate("400mbit"), true, 0, 0, 1);
        SimResult r = new Simulation(c).run();
        assertThat(r.finished()).isEqualTo(8);
        assertThat(r.originBytesOverFile()).isEqualTo(1.0);
        assertThat(r.agentsFromOriginOverFile()).isZero();
    }

    @Test
    void originBytesAreWhatItsReceiversGot() {
        // no seed peer and slow links: the first agents go to the source, and stalls send more pieces there
        SimConfig c = swarm(30, 64 * MIB, Units.rate("100mbit"), Units.rate("1gbit"), Units.rate("1gbit"), false, 0.1, 0.1, 3);
        Simulation sim = new Simulation(c);
        SimResult r = sim.run();
        double received = sim.agents().stream().mapToDouble(n -> n.fromOriginBytes).sum();
        assertThat(r.originBytesOverFile()).isCloseTo(received / c.fileBytes(), within(1e-9));
        assertThat(r.originBytesOverFile()).isGreaterThanOrEqualTo(1.0);
        assertThat(sim.origin().uploadedBytes).isCloseTo(received, within(1.0));
    }

    @Test
    void agentsThatLeaveMidDownloadLeaveTheSchedulerAndTheRestFinish() {
        SimConfig c = swarm(40, 64 * MIB, Units.rate("400mbit"), Units.rate("1gbit"), Units.rate("1gbit"), true, 0.25, 0.1, 5);
        AtomicInteger left = new AtomicInteger();
        Simulation sim = new Simulation(c, clock -> new Counting(new CoreScheduler(clock, c.scheduling(), new java.util.Random(c.seed())), left));
        SimResult r = sim.run();
        assertThat(r.left()).isEqualTo(10);
        assertThat(left).hasValue(10);
        assertThat(r.finished()).isEqualTo(30);
        assertThat(r.stuck()).isZero();
        assertThat(r.completions()).hasSize(30);
        for (SimNode n : sim.agents()) {
            if (n.state == SimNode.State.LEFT) {
                assertThat(n.haveCount).isLessThan(c.pieceCount()).isEqualTo(n.leaveAfterPieces);
                assertThat(n.upFlows).isEmpty();
                assertThat(n.outstanding).isEmpty();
            } else {
                assertThat(n.have.cardinality()).isEqualTo(c.pieceCount());
            }
        }
    }

    /**
     * Every byte that left an uplink arrived somewhere: as a whole piece (each piece once per node) or as part of a
     * transfer that was stopped (an endgame race lost, a parent or a child that left).
     */
    @Test
    void bytesAreConservedAndEveryPieceArrivesOncePerNode() {
        SimConfig c = new SimConfig(80, 128 * MIB, 4 * MIB, Units.rate("400mbit"), Units.rate("1gbit"), Units.rate("400mbit"),
                Units.rate("1gbit"), true, 0.0005, 0.01, 0.1, 0.1, 5, 0, 0.2, 0.25, 4, 7, SimConfig.defaultSuperSeeding(),
                SchedulingConfig.defaults());
        Simulation sim = new Simulation(c);
        SimResult r = sim.run();
        assertThat(r.stuck()).isZero();
        double sent = sim.nodes().stream().mapToDouble(n -> n.uploadedBytes).sum();
        double arrived = sim.nodes().stream().mapToDouble(n -> n.receivedBytes + n.discardedBytes).sum();
        assertThat(sent).isCloseTo(arrived, within(1.0));
        for (SimNode n : sim.nodes()) {
            assertThat(n.receivedBytes).isEqualTo((double) n.have.cardinality() * c.pieceBytes());
            assertThat(n.haveCount).isEqualTo(n.have.cardinality());
        }
        assertThat(r.endgameRequests()).as("the race ran, and its losers' bytes are counted").isPositive();
    }

    /** The origin never sends faster than its cap: the seed that fetches the file alone takes at least F / cap. */
    @Test
    void theOriginsCapHolds() {
        double originUp = Units.rate("200mbit");
        SimConfig c = swarm(20, 64 * MIB, Units.rate("1gbit"), Units.rate("1gbit"), originUp, true, 0, 0, 1);
        Simulation sim = new Simulation(c);
        SimResult r = sim.run();
        assertThat(r.finished()).isEqualTo(20);
        assertThat(sim.seed().finishAt).isGreaterThanOrEqualTo(c.fileBytes() / originUp);
        assertThat(sim.origin().uploadedBytes).isLessThanOrEqualTo(originUp * r.virtualSeconds());
        assertThat(r.originBytesOverFile()).isEqualTo(1.0);
    }

    /**
     * PeerDownload's refresh and starved ask: children ask again until ENOUGH_PARENTS are usable, keeping the ones they
     * have (the scheduler names others: the starved asks alone often bring enough before the first refresh is due).
     */
    @Test
    void childrenGainParentsUntilTheyHaveEnough() {
        SimConfig c = swarm(60, 256 * MIB, Units.rate("200mbit"), Units.rate("1gbit"), Units.rate("200mbit"), true, 0, 0, 1);
        Simulation sim = new Simulation(c);
        SimResult r = sim.run();
        assertThat(r.meanReschedules()).isGreaterThan(1);
        double meanParents = sim.agents().stream().mapToInt(n -> n.parents.size()).average().orElse(0);
        assertThat(meanParents).isGreaterThanOrEqualTo(dev.pollen.policy.ParentRefresh.ENOUGH_PARENTS);
    }

    /** Super-seeding: the seed sends each fresh piece to one child first, so its uplink carries fewer copies. */
    @Test
    void superSeedingLightensTheSeedsUplink() {
        SimConfig on = SimConfig.bench(8, 1);
        SimConfig off = new SimConfig(on.agents(), on.fileBytes(), on.pieceBytes(), on.agentUp(), on.agentDown(), on.seedUp(),
                on.originUp(), true, on.latencyMin(), on.latencyMax(), 0, 0, 0, on.startDelay(), on.startJitter(), 0, 1, 1, 0,
                on.scheduling());
        Simulation withIt = new Simulation(on);
        withIt.run();
        Simulation without = new Simulation(off);
        without.run();
        assertThat(withIt.seed().uploadedBytes).isLessThan(without.seed().uploadedBytes);
    }

    @Test
    void physicalLimitCountsEveryUplink() {
        // 9 receivers (8 agents + seed) at 400 mbit and the origin at 400 mbit: the origin's F / up dominates
        SimConfig bench = SimConfig.bench(8, 1);
        SimResult r = SimResult.of(bench, new Simulation(bench).nodes(), 0, 0, 0, 0, 0, 0, 0);
        assertThat(r.limit()).isCloseTo(bench.fileBytes() / bench.originUp(), within(1e-9)).isCloseTo(10.74, within(0.01));
    }

    /** Counts the peers that leave; everything else goes to the real scheduler. */
    private record Counting(SchedulerPort real, AtomicInteger left) implements SchedulerPort {
        @Override
        public void announceHost(Host host) {
            real.announceHost(host);
        }

        @Override
        public Decision register(String hostId, String taskId, String peerId, Download download) {
            return real.register(hostId, taskId, peerId, download);
        }

        @Override
        public Decision pollHeld(String taskId, String peerId) {
            return real.pollHeld(taskId, peerId);
        }

        @Override
        public Decision reschedule(String peerId, List<String> excludedParentIds) {
            return real.reschedule(peerId, excludedParentIds);
        }

        @Override
        public void started(String peerId, boolean backToSource) {
            real.started(peerId, backToSource);
        }

        @Override
        public void pieceFinished(String peerId, Piece piece, boolean backToSource) {
            real.pieceFinished(peerId, piece, backToSource);
        }

        @Override
        public void pieceFailed(String peerId, String parentId, boolean temporary) {
            real.pieceFailed(peerId, parentId, temporary);
        }

        @Override
        public void finished(String peerId, boolean backToSource) {
            real.finished(peerId, backToSource);
        }

        @Override
        public void left(String peerId) {
            left.incrementAndGet();
            real.left(peerId);
        }
    }
}
