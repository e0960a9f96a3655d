package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.e2e.TestFiles.TestFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The daemon's garbage collector as bin/dfdaemon sets it up: an agent that downloads from its peers and from the origin
 * does so with no full, stop-the-world collection. Two used to come: the first metadata GC, due when the loaded classes
 * passed the JVM's default MetaspaceSize (21 MB; an agent without its AOT cache loads ~32 MB in its first downloads,
 * one with it passed 21 MB mid-swarm in bench/swarm.sh), and
 * direct-memory reservations that filled the daemon's 64 MiB with a buffer per hashed piece (the JDK then runs
 * System.gc()). Each stopped the whole daemon, its uploads to other peers included, for 40-170 ms.
 */
class DaemonGcTest {
    @RegisterExtension
    final Swarm swarm = new Swarm();

    @TempDir
    Path out;

    @Test
    void anAgentDownloadsFromPeersAndTheOriginWithoutAFullCollection() throws IOException {
        swarm.agents(1).start();
        Path gcLog = out.resolve("gc.log");
        // No AOT cache, as at the first start of a new version or in a container under 1 GiB (bin/dfdaemon): every class
        // the daemon uses is loaded into its metaspace. A file where the cache directory would be leaves it without one.
        Path noCache = Files.createFile(out.resolve("not-a-cache-directory"));
        Swarm.Node watched = swarm.startAgent("watched",
                Map.of("POLLEN_JAVA_OPTS", "-Xlog:gc:file=" + gcLog, "XDG_CACHE_HOME", noCache.toString()));
        TestFile shared = swarm.origin().createFile("shared.bin", 64 * MiB, 31);
        TestFile own = swarm.origin().createFile("own.bin", 32 * MiB, 32);

        Dfget.Result first = swarm.agent(0).dfget().download(swarm.origin().url("/shared.bin"), out.resolve("first.bin"));
        assertThat(first.exitCode()).as(first.toString()).isZero();
        Dfget.Result fromPeers = watched.dfget().download(swarm.origin().url("/shared.bin"), out.resolve("shared.bin"),
                "--digest", shared.digest());
        assertThat(fromPeers.exitCode()).as(fromPeers.toString()).isZero();
        assertThat(fromPeers.summary().peers()).as(fromPeers.toString()).isPositive();
        Dfget.Result fromOrigin = watched.dfget().download(swarm.origin().url("/own.bin"), out.resolve("own.bin"),
                "--digest", own.digest());
        assertThat(fromOrigin.exitCode()).as(fromOrigin.toString()).isZero();
        watched.daemon().terminate();

        String log = Files.readString(gcLog);
        assertThat(log).as("the agent's GC log").contains("Using Serial");
        assertThat(log.lines().filter(l -> l.contains("Pause Full")).toList()).as("full collections\n" + log).isEmpty();
    }
}
