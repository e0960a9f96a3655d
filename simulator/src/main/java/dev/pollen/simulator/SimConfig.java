package dev.pollen.simulator;

import dev.pollen.scheduler.SchedulingConfig;

/**
 * One simulated swarm. Rates are bytes per second, times seconds.
 *
 * @param agents agents pulling the file (the seed peer and the origin are extra)
 * @param seedPeer whether a seed peer exists (the scheduler then triggers it, and it alone goes to the origin)
 * @param latencyMin one-way latency of a node to the network core, drawn per node in [min, max]; a piece request
 *                   waits a round trip (2 × both ends' latency) before its bytes flow
 * @param churn share of agents that leave (die) mid-download, each after a random 10–90% of the pieces
 * @param lateJoin share of agents that start late, uniformly within {@code lateWindow} after the others
 * @param startDelay when the on-time agents register (the real bench's dfget JVMs take ~3 s), plus up to {@code startJitter}
 * @param slowShare share of agents whose caps are divided by {@code slowFactor} (the bench's mixed mode)
 * @param superSeeding the seed peer's seedPeer.superSeeding, seconds (0: off)
 */
public record SimConfig(int agents, long fileBytes, long pieceBytes, double agentUp, double agentDown, double seedUp,
                        double originUp, boolean seedPeer, double latencyMin, double latencyMax, double churn,
                        double lateJoin, double lateWindow, double startDelay, double startJitter, double slowShare,
                        double slowFactor, long seed, double superSeeding, SchedulingConfig scheduling) {
    public SimConfig {
        if (agents < 1) {
            throw new IllegalArgumentException("--nodes: " + agents + " (expected: >= 1)");
        }
        if (pieceBytes < 1 || fileBytes < 1) {
            throw new IllegalArgumentException("--file, --piece: " + fileBytes + ", " + pieceBytes + " (expected: > 0)");
        }
        if ((fileBytes + pieceBytes - 1) / pieceBytes > 65536) {
            throw new IllegalArgumentException("--piece: " + pieceBytes + " (expected: at most 65536 pieces, as the agent allows)");
        }
        if (churn < 0 || churn > 1 || lateJoin < 0 || lateJoin > 1 || slowShare < 0 || slowShare > 1) {
            throw new IllegalArgumentException("--churn, --late, --slow-share: " + churn + ", " + lateJoin + ", " + slowShare
                    + " (expected: 0..1)");
        }
        if (latencyMin < 0 || latencyMax < latencyMin) {
            throw new IllegalArgumentException("--latency: " + latencyMin + ".." + latencyMax + " (expected: 0 <= min <= max)");
        }
        if (slowFactor < 1) {
            throw new IllegalArgumentException("--slow-factor: " + slowFactor + " (expected: >= 1)");
        }
        if (superSeeding < 0) {
            throw new IllegalArgumentException("--super-seeding-s: " + superSeeding + " (expected: >= 0)");
        }
    }

    int pieceCount() {
        return (int) ((fileBytes + pieceBytes - 1) / pieceBytes);
    }

    long pieceLength(int number) {
        return Math.min(pieceBytes, fileBytes - (long) number * pieceBytes);
    }

    /** The internet-scale default of the issue: 1 GiB, 4 MiB pieces, 1 gbit everywhere, 5% churn, 5% late. */
    public static SimConfig scale(int agents, long seed) {
        double gbit = Units.rate("1gbit");
        return new SimConfig(agents, 1L << 30, 4L << 20, gbit, gbit, gbit, gbit, true, 0.0005, 0.010, 0.05, 0.05, 30, 0,
                1, 0, 1, seed, defaultSuperSeeding(), SchedulingConfig.defaults());
    }

    /**
     * bench/swarm.sh with every uplink capped (issue 9's measurement): 8 agents, a seed and the origin, each uplink
     * 400 mbit (tbf on egress; downloads are not capped), one bridge (sub-millisecond latency), 512 MiB, and the
     * ~3 s the eight dfget JVMs take to start on the 2-CPU machine.
     */
    public static SimConfig bench(int agents, long seed) {
        double cap = Units.rate("400mbit");
        return new SimConfig(agents, 512L << 20, 4L << 20, cap, Units.UNLIMITED, cap, cap, true, 0.00005, 0.0001, 0, 0, 0,
                3.0, 0.3, 0, 1, seed, defaultSuperSeeding(), SchedulingConfig.defaults());
    }

    /** The agent's seedPeer.superSeeding default, seconds. */
    static double defaultSuperSeeding() {
        return AgentDefaults.SUPER_SEEDING.toNanos() / 1e9;
    }
}
