package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The daemon launcher's AOT cache (JDK 25+): a start that finds none begins a training start in the background
 * (bin/dfdaemon), except under a memory limit below 1 GiB, where that second JVM (~230 MiB) would take the page cache
 * from the daemon's downloads (it stalled the 384 MiB container test's). The launcher runs in a memory cgroup made
 * here, v2 or v1, whichever this machine mounts (root needed, as for the network namespaces), and its ancestors'
 * limits count too: the limit is set on the parent, the launcher runs in a child.
 */
class LauncherAotCacheTest {
    private static final Duration TRAINING = Duration.ofSeconds(120);

    @TempDir
    Path dir;

    @Test
    void underAMemoryLimitBelow1GiBNoTrainingStarts() throws Exception {
        Path cache = dir.resolve("cache");
        try (MemoryCgroup cgroup = MemoryCgroup.create(768 * MiB)) {
            runVersion(cgroup, cache);
            // The launcher takes the cache's lock before it starts the trainer, so its absence now is final.
            assertThat(entries(cache)).as("the AOT cache directory after a start limited to 768 MiB").isEmpty();
        }
    }

    @Test
    void underAMemoryLimitOf2GiBATrainingStartMakesTheCache() throws Exception {
        Path cache = dir.resolve("cache");
        try (MemoryCgroup cgroup = MemoryCgroup.create(2048 * MiB)) {
            runVersion(cgroup, cache);
            assertThat(entries(cache)).as("the AOT cache directory right after a start limited to 2 GiB")
                    .anyMatch(name -> name.endsWith(".lock"));
            await("the trainer's cache").atMost(TRAINING)
                    .until(() -> entries(cache).stream().noneMatch(name -> name.endsWith(".lock")));
            assertThat(entries(cache)).anyMatch(name -> name.endsWith(".aot"));
        }
    }

    /** {@code dfdaemon --version} in {@code cgroup}'s child, with its caches under {@code xdgCache}. */
    private static void runVersion(MemoryCgroup cgroup, Path xdgCache) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder("sh", "-c", "echo $$ > \"$1\" && exec \"$2\" --version", "sh",
                cgroup.procs().toString(), Pollen.dfdaemon().toString()).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        pb.environment().put("XDG_CACHE_HOME", xdgCache.toString());
        Process p = ChildProcesses.track(pb.start());
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(ChildProcesses.awaitExit(p, Duration.ofSeconds(60))).as("dfdaemon --version exited").isTrue();
        assertThat(p.exitValue()).as("dfdaemon --version:%n%s", out).isZero();
    }

    /** The names in the launcher's cache directory ({@code XDG_CACHE_HOME/pollen}). */
    private static List<String> entries(Path xdgCache) {
        Path pollen = xdgCache.resolve("pollen");
        if (!Files.isDirectory(pollen)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(pollen)) {
            return files.map(f -> f.getFileName().toString()).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A memory cgroup with a limit and a child without one, removed (once its processes are gone) on close. */
    private record MemoryCgroup(Path parent, Path child) implements AutoCloseable {
        private static final Path V2 = Path.of("/sys/fs/cgroup");
        private static final Path V1 = Path.of("/sys/fs/cgroup/memory");

        static MemoryCgroup create(long limitBytes) throws IOException {
            boolean v2 = Files.exists(V2.resolve("cgroup.controllers"));
            Path root = v2 ? V2 : V1;
            assertThat(root).as("a memory cgroup hierarchy (cgroup v2 or v1's memory controller)").isDirectory();
            if (v2) {
                Files.writeString(root.resolve("cgroup.subtree_control"), "+memory");
            }
            Path parent = Files.createDirectory(root.resolve("pollen-e2e-" + UUID.randomUUID()));
            Files.writeString(parent.resolve(v2 ? "memory.max" : "memory.limit_in_bytes"), Long.toString(limitBytes));
            if (v2) {
                Files.writeString(parent.resolve("cgroup.subtree_control"), "+memory");
            }
            return new MemoryCgroup(parent, Files.createDirectory(parent.resolve("launcher")));
        }

        Path procs() {
            return child.resolve("cgroup.procs");
        }

        @Override
        public void close() {
            await("the cgroup's processes gone").atMost(TRAINING).until(() -> Files.readString(procs()).isBlank());
            try {
                Files.delete(child);
                Files.delete(parent);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
