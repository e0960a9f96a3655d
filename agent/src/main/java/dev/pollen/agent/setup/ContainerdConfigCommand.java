package dev.pollen.agent.setup;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code dfdaemon containerd-config}: points containerd's registry hosts at the local mirror, or takes that back. */
@Command(name = "containerd-config", mixinStandardHelpOptions = true,
        description = {
            "Points containerd's registries at the local mirror (hosts.toml files in certs.d).",
            "",
            "Writes hosts.toml into containerd's certs.d for each --registry and for _default (every other",
            "registry): the local mirror first, then the hosts the file already named, then the registry",
            "itself as server. An existing hosts.toml is kept as hosts.toml.pollen-backup and merged (its",
            "hosts, CA and TLS settings and server stay). Checks that containerd's config makes its CRI",
            "plugin read these files. Never restarts containerd: it reads hosts.toml on every pull."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {
            "0:done",
            "1:hosts.toml written, but containerd's config keeps the CRI plugin from using it (the message says the fix)",
            "2:invalid flags",
            "3:a file could not be read, parsed or written (nothing was written then)"})
public final class ContainerdConfigCommand implements Callable<Integer> {
    static final int PREREQUISITE_MISSING = 1;
    static final int USAGE = 2;
    static final int FILE_FAILED = 3;

    @Spec
    CommandSpec spec;

    @Option(names = "--certs-dir", paramLabel = "DIR", description = "containerd's hosts directory (default: ${DEFAULT-VALUE}).")
    Path certsDir = Path.of("/etc/containerd/certs.d");

    @Option(names = "--registry", paramLabel = "HOST", split = ",",
            description = "A registry to mirror, e.g. docker.io, ghcr.io, 127.0.0.1:5000 (repeatable; _default is always written).")
    List<String> registries = new ArrayList<>();

    @Option(names = "--mirror", paramLabel = "URL", description = "The local agent's registry mirror (default: ${DEFAULT-VALUE}).")
    String mirror = "http://127.0.0.1:4001";

    @Option(names = "--dial-timeout", paramLabel = "DURATION",
            description = {"How long containerd waits to connect to the mirror before the next host (default: ${DEFAULT-VALUE};",
                "honoured by containerd 2.1 and later, older ones ignore it)."})
    String dialTimeout = "500ms";

    @Option(names = "--plain-http", paramLabel = "HOST", split = ",",
            description = "A registry reached over plain HTTP: its server is http://HOST (repeatable).")
    Set<String> plainHttp = new LinkedHashSet<>();

    @Option(names = "--containerd-config", paramLabel = "FILE", description = "containerd's config, checked, never changed (default: ${DEFAULT-VALUE}).")
    Path containerdConfig = Path.of("/etc/containerd/config.toml");

    @Option(names = "--uninstall",
            description = "Put back each original hosts.toml (or remove the ones Pollen created); with --registry only those.")
    boolean uninstall;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Path certs = certsDir.toAbsolutePath().normalize();
        try {
            if (uninstall) {
                uninstall(certs, out);
                return 0;
            }
            Mirror m = new Mirror(mirror, dialTimeout);
            List<Registry> targets = registries();
            // Everything is read and parsed before the first write: a file that cannot be parsed changes nothing.
            var findings = ContainerdPrerequisites.check(containerdConfig.toAbsolutePath(), certs);
            List<HostsDirectory.Plan> plans = new ArrayList<>();
            for (Registry r : targets) {
                plans.add(new HostsDirectory(certs, r.name()).plan(r, m));
            }
            for (HostsDirectory.Plan plan : plans) {
                out.println(describe(plan.dir().apply(plan), plan.dir().file()));
            }
            int code = 0;
            for (ContainerdPrerequisites.Finding f : findings) {
                err.println("dfdaemon containerd-config: " + (f.problem() ? "" : "warning: ") + f.message());
                code = f.problem() ? PREREQUISITE_MISSING : code;
            }
            out.println("containerd reads hosts.toml on every pull: no restart needed (this command never restarts containerd)");
            return code;
        } catch (SetupException e) {
            err.println("dfdaemon containerd-config: " + e.getMessage());
            return e.badFlag() ? USAGE : FILE_FAILED;
        } finally {
            out.flush();
            err.flush();
        }
    }

    private List<Registry> registries() {
        for (String host : plainHttp) {
            if (!registries.contains(host)) {
                throw SetupException.badFlag("--plain-http " + host + ": not among the --registry hosts (fix: add --registry " + host + ")");
            }
        }
        List<Registry> out = new ArrayList<>();
        for (String name : new LinkedHashSet<>(registries)) {
            if (!name.equals(Registry.DEFAULT)) {
                out.add(Registry.of(name, plainHttp.contains(name)));
            }
        }
        out.add(Registry.of(Registry.DEFAULT, false));
        return out;
    }

    private void uninstall(Path certs, PrintWriter out) {
        List<String> names = registries.isEmpty() ? directoriesIn(certs) : new ArrayList<>(registries);
        if (registries.isEmpty()) {
            names.removeIf(name -> !new HostsDirectory(certs, name).touchedByPollen());
        } else if (!names.contains(Registry.DEFAULT)) {
            names.add(Registry.DEFAULT);
        }
        for (String name : names) {
            HostsDirectory dir = new HostsDirectory(certs, name);
            out.println(describe(dir.uninstall(), dir.file()));
        }
        if (names.isEmpty()) {
            out.println("nothing to undo: no hosts.toml under " + certs + " was written by Pollen");
        }
    }

    private static List<String> directoriesIn(Path certs) {
        List<String> out = new ArrayList<>();
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(certs, Files::isDirectory)) {
            dirs.forEach(d -> out.add(d.getFileName().toString()));
        } catch (NoSuchFileException e) {
            return out;
        } catch (IOException e) {
            throw new SetupException("cannot list " + certs + ": " + e.getMessage() + " (fix: run as root)");
        }
        out.sort(null);
        return out;
    }

    private static String describe(HostsDirectory.Outcome outcome, Path file) {
        return switch (outcome) {
            case CREATED -> "created " + file;
            case UPDATED -> "updated " + file + " (the original is in " + HostsDirectory.BACKUP + ")";
            case REWRITTEN -> "rewrote " + file + " (Pollen had created it)";
            case UNCHANGED -> "unchanged " + file;
            case RESTORED -> "restored " + file + " from " + HostsDirectory.BACKUP;
            case REMOVED -> "removed " + file + " (Pollen had created it)";
            case NOT_POLLENS -> "left alone " + file + " (not written by Pollen)";
            case ABSENT -> "nothing at " + file;
        };
    }
}
