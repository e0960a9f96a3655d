package dev.pollen.e2e.registry;

import static org.awaitility.Awaitility.await;

import dev.pollen.e2e.ChildProcesses;
import dev.pollen.e2e.Daemons;
import dev.pollen.e2e.Netns;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * A real containerd (Debian's, 1.6: config version 2) of its own: root, state, socket and config under a temp
 * directory, its CRI plugin's {@code registry.config_path} set to the {@code certs.d} directory given (where
 * Pollen's set-up command writes {@code hosts.toml}), on the host network or inside a network namespace.
 *
 * <p>Two ways to pull, as on a node: {@link #pull} runs {@code ctr images pull --hosts-dir DIR}, where the ctr
 * process resolves and fetches (so it runs in containerd's namespace too) and reads hosts only from
 * {@code --hosts-dir}; {@link #cri()} is kubelet's path, where the daemon fetches and reads {@code config_path}.
 * Both unpack into the overlayfs snapshotter. {@code ctr} keeps images in namespace {@link #CTR_NAMESPACE},
 * the CRI in {@link #CRI_NAMESPACE}; content is shared between them, so a blob one of them has is not fetched
 * again by the other: {@link #removeImage} (or {@link Cri#remove}) first, or a containerd per pull.
 *
 * <pre>{@code
 * try (Containerd node = new Containerd(certsDir).start()) {
 *     Commands.Result r = node.pull(ref, certsDir, false);
 *     node.imageDigest(Containerd.CTR_NAMESPACE, ref);           // Optional[sha256:...]
 *     node.cri().pull(ref, Optional.empty());
 * }
 * }</pre>
 */
public final class Containerd implements AutoCloseable {
    public static final String CTR_NAMESPACE = "default";
    public static final String CRI_NAMESPACE = "k8s.io";
    private static final Duration PULL_TIMEOUT = Duration.ofSeconds(120);
    /** sun_path holds 108 bytes; containerd also listens on the socket's path + ".ttrpc". */
    private static final int MAX_SOCKET_PATH = 100;

    /** One image as {@code ctr images check} reports it. */
    public record ImageCheck(String ref, String digest, boolean complete, boolean unpacked) {
    }

    private final Path certsDir;
    private Netns.Node node;
    private Path dir;
    private Process process;
    private Cri cri;

    /** A containerd whose CRI plugin reads {@code hosts.toml} from {@code certsDir} ({@code config_path}). */
    public Containerd(Path certsDir) {
        this.certsDir = certsDir.toAbsolutePath();
    }

    /** Runs inside {@code node}'s network namespace, and so do the ctr commands (before {@link #start()}). */
    public Containerd inNamespace(Netns.Node node) {
        if (dir != null) {
            throw new IllegalStateException("choose the namespace before containerd starts");
        }
        this.node = node;
        return this;
    }

    public synchronized Containerd start() {
        if (process != null) {
            return this;
        }
        try {
            // Short paths: the socket lives here (java.io.tmpdir may be long).
            dir = Files.createTempDirectory(Path.of("/tmp"), "pollen-ctr-");
            if (socket().toString().length() > MAX_SOCKET_PATH) {
                throw new IllegalStateException("containerd socket path too long for a Unix socket: " + socket());
            }
            Files.createDirectories(certsDir);
            Files.writeString(dir.resolve("config.toml"), config());
            List<String> cmd = new ArrayList<>(launcher());
            cmd.addAll(List.of(Commands.binary("containerd", "containerd"), "--config", dir.resolve("config.toml").toString()));
            process = ChildProcesses.track(new ProcessBuilder(cmd)
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .redirectOutput(log().toFile())
                    .redirectErrorStream(true)
                    .start());
            await("containerd to boot").atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20))
                    .failFast("containerd exited", () -> !process.isAlive())
                    .until(() -> read(log()).contains("containerd successfully booted"));
            return this;
        } catch (IOException e) {
            stop();
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            String log = dir == null ? "" : read(log());
            stop();
            throw new AssertionError("containerd did not start: " + e.getMessage() + "\n" + log, e);
        }
    }

    /**
     * Version 2 (containerd 1.x). Snapshotters that cannot work here are disabled so the log shows no noise;
     * the CRI plugin needs no CNI to pull (it logs once that it found none).
     */
    private String config() {
        return """
                version = 2
                root = "%1$s/root"
                state = "%1$s/state"
                disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
                  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

                [grpc]
                  address = "%2$s"

                [plugins."io.containerd.internal.v1.opt"]
                  path = "%1$s/opt"

                [plugins."io.containerd.grpc.v1.cri"]
                  disable_tcp_service = true
                  stream_server_address = "127.0.0.1"
                  stream_server_port = "0"

                [plugins."io.containerd.grpc.v1.cri".registry]
                  config_path = "%3$s"
                """.formatted(dir, socket(), certsDir);
    }

    /** {@code ctr images pull --hosts-dir hostsDir [--plain-http] ref}, anonymously. */
    public Commands.Result pull(String ref, Path hostsDir, boolean plainHttp) {
        return pull(ref, hostsDir, plainHttp, Optional.empty());
    }

    /** {@code ctr images pull --hosts-dir hostsDir [--plain-http] [--user USER:PASSWORD] ref}. */
    public Commands.Result pull(String ref, Path hostsDir, boolean plainHttp, Optional<Registry.Credentials> user) {
        List<String> args = new ArrayList<>(List.of("images", "pull", "--hosts-dir", hostsDir.toAbsolutePath().toString()));
        if (plainHttp) {
            args.add("--plain-http");
        }
        user.ifPresent(u -> args.addAll(List.of("--user", u.userColonPassword())));
        args.add(ref);
        return ctr(CTR_NAMESPACE, PULL_TIMEOUT, args);
    }

    /** The manifest digest containerd stored for {@code ref} in {@code namespace}, empty if it has no such image. */
    public Optional<String> imageDigest(String namespace, String ref) {
        return check(namespace, ref).map(ImageCheck::digest);
    }

    /** {@code ctr images check} for {@code ref}: whether all its content is present and whether it is unpacked. */
    public Optional<ImageCheck> check(String namespace, String ref) {
        Commands.Result r = ctr(namespace, Duration.ofSeconds(30), List.of("images", "check", "name==" + ref));
        if (!r.succeeded()) {
            throw new AssertionError(r.toString());
        }
        // REF TYPE DIGEST STATUS SIZE UNPACKED; STATUS is "complete (3/3)", SIZE "60.0 MiB/60.0 MiB".
        return r.out().lines().skip(1).map(l -> l.trim().split("\\s+")).filter(f -> f.length >= 4 && f[0].equals(ref))
                .findFirst()
                .map(f -> new ImageCheck(f[0], f[2], f[3].equals("complete"), f[f.length - 1].equals("true")));
    }

    /** {@code ctr images rm --sync}: the image and, through containerd's GC, the content only it used. */
    public Commands.Result removeImage(String namespace, String ref) {
        return ctr(namespace, Duration.ofSeconds(30), List.of("images", "rm", "--sync", ref));
    }

    /** Any {@code ctr} command against this containerd, run where containerd runs. */
    public Commands.Result ctr(String namespace, Duration timeout, List<String> args) {
        List<String> cmd = new ArrayList<>(launcher());
        cmd.addAll(List.of(Commands.binary("ctr", "containerd"), "--address", socket().toString(), "--namespace", namespace));
        cmd.addAll(args);
        return Commands.run(timeout, cmd);
    }

    /** The CRI image service on this containerd's socket (opened once, closed with containerd). */
    public synchronized Cri cri() {
        if (process == null) {
            throw new IllegalStateException("containerd is not running");
        }
        if (cri == null) {
            cri = new Cri(socket());
        }
        return cri;
    }

    /** SIGTERM by PID (SIGKILL after 10 s), then unmounts whatever it left mounted under its directory. */
    public synchronized void stop() {
        if (cri != null) {
            cri.close();
            cri = null;
        }
        if (process != null) {
            ChildProcesses.terminate(process, Duration.ofSeconds(10));
            process = null;
        }
        if (dir != null) {
            unmountUnder(dir);
        }
    }

    /** Stops containerd and deletes its directory (not the certs.d it was given). */
    @Override
    public synchronized void close() {
        stop();
        if (dir != null) {
            Daemons.deleteTree(dir);
            dir = null;
        }
    }

    /**
     * Overlay mounts of snapshots (a container that ran, a pull killed mid-unpack) outlive containerd and make
     * {@code rm -rf} fail; deepest first. Inside a namespace they lived in {@code ip netns exec}'s own mount
     * namespace, gone with containerd, so this finds none there.
     */
    private static void unmountUnder(Path dir) {
        List<String> mounts;
        try {
            mounts = Files.readAllLines(Path.of("/proc/self/mountinfo")).stream()
                    .map(l -> l.split(" ")[4])
                    .filter(m -> m.startsWith(dir + "/"))
                    .sorted(Comparator.comparingInt(String::length).reversed())
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        for (String mount : mounts) {
            Commands.Result r = Commands.run(Duration.ofSeconds(30), List.of(Commands.binary("umount", "mount"), mount));
            if (!r.succeeded()) {
                Commands.check(Duration.ofSeconds(30), List.of(Commands.binary("umount", "mount"), "-l", mount));
            }
        }
    }

    /** The gRPC (and CRI) socket. */
    public Path socket() {
        return dir.resolve("c.sock");
    }

    public Path certsDir() {
        return certsDir;
    }

    /** containerd's directory: {@code config.toml}, {@code root/}, {@code state/}, {@code containerd.log}. */
    public Path dir() {
        return dir;
    }

    public Path log() {
        return dir.resolve("containerd.log");
    }

    /** The prefix that runs a command where containerd runs (its namespace), empty on the host network. */
    public List<String> launcher() {
        return node == null ? List.of() : node.launcher();
    }

    @Override
    public String toString() {
        return "Containerd[" + dir + (node == null ? "" : ", in " + node.namespace()) + "]";
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return "";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
