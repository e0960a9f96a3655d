package dev.pollen.agent.upload;

import dev.pollen.proto.common.v2.Build;
import dev.pollen.proto.common.v2.Host;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * What this host runs, as Dragonfly's dfdaemon reports it in AnnounceHost and SyncHost (dragonflyoss/client
 * {@code announcer/mod.rs}: {@code os} and {@code platform} = {@code env::consts::OS}, {@code platform_family} =
 * {@code env::consts::FAMILY}, {@code platform_version} = the distribution's version, {@code kernel_version} = the
 * kernel release, {@code build.git_version} = the package version), as far as Java can tell.
 *
 * @param platformVersion {@code VERSION_ID} of /etc/os-release, else empty
 * @param kernelVersion /proc/sys/kernel/osrelease, else the JVM's {@code os.version} (the same on Linux)
 * @param version Pollen's version from the jar manifest, or {@code dev} when run from classes
 */
record HostPlatform(String os, String family, String platformVersion, String kernelVersion, String hostname, String version,
                    String buildPlatform) {
    static final Path OS_RELEASE = Path.of("/etc/os-release");
    static final Path KERNEL_RELEASE = Path.of("/proc/sys/kernel/osrelease");

    /** Read once at start: none of it changes while the daemon runs. */
    static HostPlatform current() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String family = os.contains("win") ? "windows" : "unix";
        String kernel = firstLine(KERNEL_RELEASE);
        String version = HostPlatform.class.getPackage().getImplementationVersion();
        return new HostPlatform(os, family, osReleaseVersion(lines(OS_RELEASE)),
                kernel.isEmpty() ? System.getProperty("os.version", "") : kernel, localHostname(),
                version == null ? "dev" : version, os + "/" + System.getProperty("os.arch", ""));
    }

    /** The identity with what this host runs filled in where it was left empty. */
    Host fill(Host identity) {
        Host.Builder b = identity.toBuilder();
        if (b.getHostname().isEmpty()) {
            b.setHostname(hostname);
        }
        if (b.getOs().isEmpty()) {
            b.setOs(os).setPlatform(os).setPlatformFamily(family).setPlatformVersion(platformVersion).setKernelVersion(kernelVersion);
        }
        if (!b.hasBuild()) {
            b.setBuild(Build.newBuilder().setGitVersion(version).setPlatform(buildPlatform));
        }
        return b.build();
    }

    /** {@code VERSION_ID} of an os-release file (quotes removed), or empty. */
    static String osReleaseVersion(List<String> lines) {
        for (String line : lines) {
            if (line.startsWith("VERSION_ID=")) {
                return line.substring("VERSION_ID=".length()).replace("\"", "").replace("'", "").trim();
            }
        }
        return "";
    }

    private static String localHostname() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            // No resolvable name for this host: the kernel's own, as hostname(1) prints it.
            return firstLine(Path.of("/proc/sys/kernel/hostname"));
        }
    }

    private static String firstLine(Path file) {
        List<String> lines = lines(file);
        return lines.isEmpty() ? "" : lines.getFirst().trim();
    }

    /** A file that is missing or unreadable (another OS, a sandbox) reads as empty: the field is left empty. */
    private static List<String> lines(Path file) {
        try {
            return Files.readAllLines(file);
        } catch (IOException | RuntimeException e) {
            return List.of();
        }
    }
}
