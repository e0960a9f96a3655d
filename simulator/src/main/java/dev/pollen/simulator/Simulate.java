package dev.pollen.simulator;

import dev.pollen.scheduler.SchedulingConfig;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code bin/simulate}: one simulated swarm, its figures on stdout. Unset flags take the topology's values. */
@Command(name = "simulate", mixinStandardHelpOptions = true, version = "Pollen simulator 0.1.0",
        description = "Simulates one task's swarm in virtual time against Pollen's real scheduler code.")
public final class Simulate implements Callable<Integer> {
    @Option(names = "--topology", defaultValue = "scale",
            description = "scale (1 GiB, 1 gbit everywhere, 5%% churn, 5%% late) or bench (bench/swarm.sh with every uplink at 400 mbit: 8 agents, seed, origin, 512 MiB). Default: ${DEFAULT-VALUE}")
    String topology;
    @Option(names = "--nodes", description = "agents (the seed peer and the origin are extra)")
    Integer nodes;
    @Option(names = "--file", description = "file size, e.g. 1GiB")
    String file;
    @Option(names = "--piece", description = "piece length, e.g. 4MiB")
    String piece;
    @Option(names = "--up", description = "each agent's upload cap, e.g. 1gbit")
    String up;
    @Option(names = "--down", description = "each agent's download cap (unlimited: none)")
    String down;
    @Option(names = "--seed-up", description = "the seed peer's upload cap (default: --up)")
    String seedUp;
    @Option(names = "--origin", description = "the origin's upload cap")
    String originUp;
    @Option(names = "--no-seed-peer", description = "no seed peer: the first agents go to the origin themselves")
    boolean noSeedPeer;
    @Option(names = "--latency-ms", description = "one-way latency per node, min,max in ms, e.g. 0.5,10")
    String latency;
    @Option(names = "--churn", description = "share of agents that leave mid-download, e.g. 0.05")
    Double churn;
    @Option(names = "--late", description = "share of agents that start late")
    Double late;
    @Option(names = "--late-window-s", description = "late agents start uniformly within this many seconds")
    Double lateWindow;
    @Option(names = "--start-delay-s", description = "when the on-time agents register (dfget start-up)")
    Double startDelay;
    @Option(names = "--slow-share", description = "share of agents whose caps are divided by --slow-factor (mixed mode)")
    Double slowShare;
    @Option(names = "--slow-factor", description = "divisor of the slow agents' caps")
    Double slowFactor;
    @Option(names = "--super-seeding-s", description = "the seed peer's seedPeer.superSeeding in seconds (0: off; default: the agent's)")
    Double superSeeding;
    @Option(names = "--candidate-parent-limit", description = "scheduler: parents per decision (default 3)")
    Integer candidateParentLimit;
    @Option(names = "--filter-parent-limit", description = "scheduler: peers examined per decision (default 40)")
    Integer filterParentLimit;
    @Option(names = "--seed", defaultValue = "1", description = "random seed: the same seed gives the same run. Default: ${DEFAULT-VALUE}")
    long seed;

    public static void main(String[] args) {
        System.exit(new CommandLine(new Simulate()).execute(args));
    }

    @Override
    public Integer call() {
        SimConfig base = switch (topology) {
            case "scale" -> SimConfig.scale(10_000, seed);
            case "bench" -> SimConfig.bench(8, seed);
            default -> throw new CommandLine.ParameterException(new CommandLine(this),
                    "--topology: " + topology + " (expected: scale, bench)");
        };
        SchedulingConfig d = base.scheduling();
        SchedulingConfig scheduling = d.withCandidateParentLimit(or(candidateParentLimit, d.candidateParentLimit()))
                .withFilterParentLimit(or(filterParentLimit, d.filterParentLimit()));
        double agentUp = up == null ? base.agentUp() : Units.rate(up);
        double[] lat = latency == null ? new double[] {base.latencyMin(), base.latencyMax()} : latencies(latency);
        SimConfig config = new SimConfig(or(nodes, base.agents()), file == null ? base.fileBytes() : Units.bytes(file),
                piece == null ? base.pieceBytes() : Units.bytes(piece), agentUp, down == null ? base.agentDown() : Units.rate(down),
                seedUp == null ? (up == null ? base.seedUp() : agentUp) : Units.rate(seedUp),
                originUp == null ? base.originUp() : Units.rate(originUp), base.seedPeer() && !noSeedPeer, lat[0], lat[1],
                or(churn, base.churn()), or(late, base.lateJoin()), or(lateWindow, base.lateWindow()),
                or(startDelay, base.startDelay()), base.startJitter(), or(slowShare, base.slowShare()),
                or(slowFactor, base.slowFactor()), seed, or(superSeeding, base.superSeeding()), scheduling);
        Simulation sim = new Simulation(config);
        SimResult result = sim.run();
        System.out.print(result.format());
        long peak = 0;
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            if (pool.getType() == MemoryType.HEAP) {
                peak += pool.getPeakUsage().getUsed();
            }
        }
        long withScheduler = heapAfterGc();
        sim.dropScheduler();
        long without = heapAfterGc();
        System.out.printf(Locale.ROOT, "%-32s %.0f MiB peak heap of the process; the scheduler's state at the end %.0f MiB (heap after GC with it, %.0f MiB, minus without it)%n",
                "heap", peak / 1048576.0, (withScheduler - without) / 1048576.0, withScheduler / 1048576.0);
        return 0;
    }

    private static long heapAfterGc() {
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    private static double[] latencies(String text) {
        String[] parts = text.split(",");
        double min = Double.parseDouble(parts[0].trim()) / 1e3;
        double max = parts.length > 1 ? Double.parseDouble(parts[1].trim()) / 1e3 : min;
        return new double[] {min, max};
    }

    private static <T> T or(T value, T otherwise) {
        return value == null ? otherwise : value;
    }
}
