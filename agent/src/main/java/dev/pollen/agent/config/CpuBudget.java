package dev.pollen.agent.config;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The CPUs this process may really use: the smaller of {@link Runtime#availableProcessors()} (CPU
 * affinity, and the JVM's own container view) and the cgroup CPU quota of the process's cgroup or any
 * of its ancestors (v2 {@code cpu.max}, v1 {@code cpu.cfs_quota_us}/{@code cpu.cfs_period_us}), rounded
 * up to whole CPUs. Every thread count derived by {@link ThreadsConfig} starts from it.
 *
 * @param source where the figure came from, for the start-up log
 */
public record CpuBudget(int cpus, String source) {
    public CpuBudget {
        if (cpus < 1) {
            throw new IllegalArgumentException("cpus: " + cpus + " (expected: 1 or more)");
        }
    }

    /** This process's budget, read from the real /proc and /sys. */
    public static CpuBudget detect() {
        return detect(Path.of("/"), Runtime.getRuntime().availableProcessors());
    }

    /**
     * @param root where /proc and /sys are found (a directory of fake files in tests)
     * @param available {@link Runtime#availableProcessors()}
     */
    static CpuBudget detect(Path root, int available) {
        Optional<Quota> quota = v2(root).or(() -> v1(root));
        if (quota.isPresent() && quota.get().cpus() < available) {
            return new CpuBudget(quota.get().cpus(), quota.get().source());
        }
        return new CpuBudget(Math.max(1, available), "availableProcessors");
    }

    private record Quota(long quota, long period, Path file) {
        int cpus() {
            return (int) Math.max(1, Math.min(Integer.MAX_VALUE, (quota + period - 1) / period));
        }

        String source() {
            return "cgroup " + file + " " + quota + "/" + period;
        }

        static Optional<Quota> tighter(Optional<Quota> a, Optional<Quota> b) {
            if (a.isEmpty()) {
                return b;
            }
            if (b.isEmpty()) {
                return a;
            }
            // a/b < c/d without floating point: a*d < c*b (quotas and periods are far below 2^31 in practice)
            return a.get().quota() * b.get().period() <= b.get().quota() * a.get().period() ? a : b;
        }
    }

    /** cgroup v2 (unified hierarchy mounted at /sys/fs/cgroup): cpu.max is "max PERIOD" or "QUOTA PERIOD". */
    private static Optional<Quota> v2(Path root) {
        Path mount = root.resolve("sys/fs/cgroup");
        if (!Files.exists(mount.resolve("cgroup.controllers"))) {
            return Optional.empty();
        }
        String own = ownCgroup(root, line -> line.startsWith("0::")).orElse("/");
        return tightestUpTo(mount, own, dir -> {
            List<String> fields = words(dir.resolve("cpu.max"));
            if (fields.size() != 2 || fields.get(0).equals("max")) {
                return Optional.empty();
            }
            return quota(fields.get(0), fields.get(1), dir.resolve("cpu.max"));
        });
    }

    /** cgroup v1: the cpu controller's cpu.cfs_quota_us (-1 for none) over cpu.cfs_period_us. */
    private static Optional<Quota> v1(Path root) {
        Path mount = root.resolve("sys/fs/cgroup/cpu,cpuacct");
        if (!Files.isDirectory(mount)) {
            mount = root.resolve("sys/fs/cgroup/cpu");
        }
        if (!Files.isDirectory(mount)) {
            return Optional.empty();
        }
        String own = ownCgroup(root, line -> {
            String[] parts = line.split(":", 3);
            return parts.length == 3 && List.of(parts[1].split(",")).contains("cpu");
        }).orElse("/");
        return tightestUpTo(mount, own, dir -> {
            List<String> q = words(dir.resolve("cpu.cfs_quota_us"));
            List<String> p = words(dir.resolve("cpu.cfs_period_us"));
            if (q.size() != 1 || p.size() != 1 || q.get(0).startsWith("-")) {
                return Optional.empty();
            }
            return quota(q.get(0), p.get(0), dir.resolve("cpu.cfs_quota_us"));
        });
    }

    /**
     * The tightest quota from the process's own cgroup directory up to the mount point. Inside a container
     * the path in /proc/self/cgroup may name the host's hierarchy while the mount shows the container's
     * own cgroup at its root, so the mount point itself always counts.
     */
    private static Optional<Quota> tightestUpTo(Path mount, String own, java.util.function.Function<Path, Optional<Quota>> read) {
        Optional<Quota> best = read.apply(mount);
        Path dir = mount.resolve(own.replaceFirst("^/+", "")).normalize();
        while (dir.startsWith(mount) && !dir.equals(mount)) {
            best = Quota.tighter(best, read.apply(dir));
            dir = dir.getParent();
        }
        return best;
    }

    private static Optional<String> ownCgroup(Path root, java.util.function.Predicate<String> line) {
        try {
            return Files.readAllLines(root.resolve("proc/self/cgroup")).stream().filter(line)
                    .map(l -> l.substring(l.indexOf(':', l.indexOf(':') + 1) + 1)).findFirst();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private static Optional<Quota> quota(String quota, String period, Path file) {
        try {
            long q = Long.parseLong(quota);
            long p = Long.parseLong(period);
            return q > 0 && p > 0 ? Optional.of(new Quota(q, p, file)) : Optional.empty();
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }

    private static List<String> words(Path file) {
        try {
            return List.of(Files.readString(file).trim().split("\\s+"));
        } catch (IOException e) {
            return List.of();
        }
    }
}
