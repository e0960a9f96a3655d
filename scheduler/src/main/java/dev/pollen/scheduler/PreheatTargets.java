package dev.pollen.scheduler;

import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.pollen.scheduler.v1.PreheatScope;
import java.util.Comparator;
import java.util.List;

/**
 * Which hosts a preheat sends to, as Dragonfly's scheduler picks them for its preheat scopes (job.go
 * {@code selectSeedPeers}/{@code selectPeers}): seed peers first, a count larger than the cluster capped to it.
 * In a stable order (seed peers, then by host id), so that COUNT picks the same hosts on every run.
 */
final class PreheatTargets {
    private static final Comparator<Host> SEEDS_FIRST =
            Comparator.comparing((Host h) -> h.getType() == 0).thenComparing(Host::getId);

    private PreheatTargets() {
    }

    static List<Host> choose(List<Host> known, PreheatScope scope, int count) {
        List<Host> ordered = known.stream().sorted(SEEDS_FIRST).toList();
        return switch (scope) {
            case ALL_PEERS -> ordered;
            case COUNT -> ordered.subList(0, Math.min(count, ordered.size()));
            default -> ordered.stream().filter(PreheatTargets::seed).toList();
        };
    }

    static boolean seed(Host host) {
        return host.getType() != 0;
    }
}
