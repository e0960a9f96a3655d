package dev.pollen.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * What a running JVM process holds, read from outside it: open descriptors and resident memory from
 * {@code /proc}, and native memory (direct buffers are NMT's "Other") through {@code jcmd}, which needs the
 * process started with {@code -XX:NativeMemoryTracking=summary}. No JMX: the daemon opens no management port.
 */
final class ProcessStats {
    private static final Pattern RSS = Pattern.compile("VmRSS:\\s+(\\d+) kB");
    private static final Pattern OTHER = Pattern.compile("-\\s+Other \\(reserved=(\\d+)KB, committed=(\\d+)KB\\)");

    private ProcessStats() {
    }

    /** Entries of {@code /proc/<pid>/fd}: every open file, socket, pipe, epoll and eventfd. */
    static int openDescriptors(long pid) {
        try (Stream<Path> fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            return (int) fds.count();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list the descriptors of pid " + pid, e);
        }
    }

    /** The descriptors' targets ({@code socket:[123]}, {@code anon_inode:[eventfd]}, paths), for a failure message. */
    static List<String> descriptorTargets(long pid) {
        try (Stream<Path> fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            return fds.map(fd -> {
                try {
                    return Files.readSymbolicLink(fd).toString();
                } catch (NoSuchFileException gone) {
                    return "(closed)";
                } catch (IOException e) {
                    return "(" + e.getMessage() + ")";
                }
            }).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Resident set size in bytes. */
    static long residentBytes(long pid) {
        Matcher m = RSS.matcher(read(Path.of("/proc/" + pid + "/status")));
        if (!m.find()) {
            throw new IllegalStateException("no VmRSS for pid " + pid);
        }
        return Long.parseLong(m.group(1)) * 1024;
    }

    /** Committed bytes of NMT's "Other" category: {@code ByteBuffer.allocateDirect} and Netty's direct arenas. */
    static long nativeOtherBytes(long pid) {
        String summary = jcmd(pid, "VM.native_memory", "summary");
        Matcher m = OTHER.matcher(summary);
        if (!m.find()) {
            throw new IllegalStateException("no 'Other' category in the native memory summary of pid " + pid
                    + " (started without -XX:NativeMemoryTracking=summary?):\n" + summary);
        }
        return Long.parseLong(m.group(2)) * 1024;
    }

    /** A full GC in the process, so that buffers nothing references any more are collected (and leaks reported). */
    static void gc(long pid) {
        jcmd(pid, "GC.run");
    }

    /** {@code jcmd <pid> command...} with the jcmd of the JDK the process runs on. */
    private static String jcmd(long pid, String... command) {
        try {
            Path jcmd = Path.of("/proc/" + pid + "/exe").toRealPath().resolveSibling("jcmd");
            List<String> cmd = new java.util.ArrayList<>(List.of(jcmd.toString(), Long.toString(pid)));
            cmd.addAll(List.of(command));
            Path out = Files.createTempFile("pollen-e2e-jcmd-", ".out");
            try {
                Process p = ChildProcesses.track(new ProcessBuilder(cmd).redirectErrorStream(true)
                        .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                        .redirectOutput(out.toFile()).start());
                if (!p.waitFor(30, TimeUnit.SECONDS)) {
                    ChildProcesses.kill(p);
                    throw new AssertionError(String.join(" ", cmd) + " did not finish within 30 s");
                }
                String text = Files.readString(out, StandardCharsets.UTF_8);
                if (p.exitValue() != 0) {
                    throw new AssertionError(String.join(" ", cmd) + " -> exit " + p.exitValue() + ":\n" + text);
                }
                return text;
            } finally {
                Files.deleteIfExists(out);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run jcmd for pid " + pid, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
