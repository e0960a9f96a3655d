package dev.pollen.simulator;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * What one run measured.
 *
 * <p>The physical limit is the fluid lower bound of distributing a file of F bytes from one origin to n receivers
 * (Kumar and Ross, 2006): {@code max(F / up(origin), F / min down(receiver), n × F / (up(origin) + Σ up(receiver)))}
 * — the origin must send every byte once, the slowest receiver must take it in, and all receivers' bytes must leave
 * some uplink. Receivers are every agent (churned and late ones included) and the seed peer, which must fetch the
 * file too. Latency, piece granularity, start-up and churn are not in it, so no run can reach 1.0.
 */
public record SimResult(SimConfig config, double limit, double[] completions, double allDone, int finished,
                        int left, int stuck, double originBytesOverFile, double agentsFromOriginOverFile, double seedShare,
                        double uploadMaxOverMean, double uploadedMaxBytes, double meanReschedules, double meanRefreshes,
                        int slowMarks, int busyAnswers, int endgameRequests, int parentFailures, double virtualSeconds, long events, double wallSeconds, long decisions,
                        double decisionsPerSecond, long messages, double messagesPerSecond) {

    static SimResult of(SimConfig c, List<SimNode> nodes, double now, long events, long wallNanos,
                        long decisions, long decisionNanos, long messages, long messageNanos) {
        double f = c.fileBytes();
        SimNode origin = nodes.get(0);
        List<SimNode> agents = nodes.stream().filter(n -> n.kind == SimNode.Kind.AGENT).toList();
        List<SimNode> receivers = nodes.stream().filter(n -> n.kind != SimNode.Kind.ORIGIN).toList();
        double minDown = receivers.stream().mapToDouble(n -> n.down).min().orElse(Units.UNLIMITED);
        double sumUp = receivers.stream().mapToDouble(n -> n.up).sum();
        double limit = Math.max(Math.max(f / origin.up, f / minDown), receivers.size() * f / (origin.up + sumUp));
        double[] completions = agents.stream().filter(n -> n.state == SimNode.State.DONE).mapToDouble(n -> n.finishAt - n.launchAt)
                .sorted().toArray();
        double allDone = agents.stream().filter(n -> n.state == SimNode.State.DONE).mapToDouble(n -> n.finishAt).max().orElse(0);
        int left = (int) agents.stream().filter(n -> n.state == SimNode.State.LEFT).count();
        double peerUploaded = receivers.stream().mapToDouble(n -> n.uploadedBytes).sum();
        double seedUploaded = nodes.stream().filter(n -> n.kind == SimNode.Kind.SEED).mapToDouble(n -> n.uploadedBytes).sum();
        double[] uploads = agents.stream().filter(n -> n.state == SimNode.State.DONE).mapToDouble(n -> n.uploadedBytes).toArray();
        double mean = Arrays.stream(uploads).average().orElse(0);
        double max = Arrays.stream(uploads).max().orElse(0);
        double fromOrigin = agents.stream().mapToDouble(n -> n.fromOriginBytes).sum();
        return new SimResult(c, limit, completions, allDone, completions.length, left, agents.size() - completions.length - left,
                origin.uploadedBytes / f, fromOrigin / f, peerUploaded == 0 ? 0 : seedUploaded / peerUploaded,
                mean == 0 ? 0 : max / mean, max, agents.stream().mapToInt(n -> n.reschedules).average().orElse(0),
                agents.stream().mapToInt(n -> n.refreshes).average().orElse(0), agents.stream().mapToInt(n -> n.slowMarks).sum(),
                agents.stream().mapToInt(n -> n.busyAnswers).sum(), agents.stream().mapToInt(n -> n.endgameRequests).sum(), agents.stream().mapToInt(n -> n.parentFailures).sum(), now,
                events, wallNanos / 1e9, decisions, decisionNanos == 0 ? 0 : decisions / (decisionNanos / 1e9), messages,
                messageNanos == 0 ? 0 : messages / (messageNanos / 1e9));
    }

    /** The completion time (from the agent's launch) at quantile q of the agents that finished; NaN if none did. */
    public double completion(double q) {
        if (completions.length == 0) {
            return Double.NaN;
        }
        int rank = (int) Math.ceil(q * completions.length) - 1;
        return completions[Math.max(0, Math.min(completions.length - 1, rank))];
    }

    public String format() {
        StringBuilder b = new StringBuilder();
        SimConfig c = config;
        line(b, "swarm", String.format(Locale.ROOT, "%d agents%s, file %s, piece %s, up %s, down %s, origin %s, latency %.1f-%.1f ms, churn %.0f%%, late %.0f%% within %.0f s, super-seeding %.0f s, seed %d",
                c.agents(), c.seedPeer() ? " + seed peer (up " + Units.rateText(c.seedUp()) + ")" : "", Units.sizeText(c.fileBytes()),
                Units.sizeText(c.pieceBytes()), Units.rateText(c.agentUp()), Units.rateText(c.agentDown()), Units.rateText(c.originUp()),
                c.latencyMin() * 1e3, c.latencyMax() * 1e3, c.churn() * 100, c.lateJoin() * 100, c.lateWindow(), c.superSeeding(), c.seed()));
        line(b, "physical limit", String.format(Locale.ROOT, "%.2f s", limit));
        line(b, "agents finished / left / stuck", finished + " / " + left + " / " + stuck);
        line(b, "completion p50 / p99 / max", String.format(Locale.ROOT, "%.2f / %.2f / %.2f s = %.2f / %.2f / %.2f x limit",
                completion(0.5), completion(0.99), completion(1.0), completion(0.5) / limit, completion(0.99) / limit,
                completion(1.0) / limit));
        line(b, "all done (from t=0)", String.format(Locale.ROOT, "%.2f s = %.2f x limit", allDone, allDone / limit));
        line(b, "origin sent", String.format(Locale.ROOT, "%.3f x file (agents took %.3f x file from it)", originBytesOverFile,
                agentsFromOriginOverFile));
        line(b, "upload fairness (agents)", String.format(Locale.ROOT, "max/mean %.2f (max %.0f MiB); seed sent %.1f%% of peer bytes",
                uploadMaxOverMean, uploadedMaxBytes / (1 << 20), seedShare * 100));
        line(b, "agent behaviour", String.format(Locale.ROOT,
                "%.2f reschedules per agent (%.2f refreshes), %d slow-parent drops, %d busy answers, %d endgame requests, %d parent failures",
                meanReschedules, meanRefreshes, slowMarks, busyAnswers, endgameRequests, parentFailures));
        line(b, "scheduler", String.format(Locale.ROOT, "%d decisions at %.0f/s, %d messages at %.0f/s (wall time inside the scheduler)",
                decisions, decisionsPerSecond, messages, messagesPerSecond));
        line(b, "simulation", String.format(Locale.ROOT, "%.1f s virtual, %d events, %.1f s wall", virtualSeconds, events, wallSeconds));
        return b.toString();
    }

    private static void line(StringBuilder b, String key, String value) {
        b.append(String.format(Locale.ROOT, "%-32s %s%n", key, value));
    }
}
