package dev.pollen.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.extension.AfterTestExecutionCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A small tmpfs as a disk that fills up ({@code mount -t tmpfs -o size=...}; needs root), detached as soon as the
 * test body ends ({@code umount -l}): before any after-each clean-up, which can then delete the directory it
 * was mounted on, while processes still using it keep it until they are stopped.
 */
final class TmpfsMount implements AfterTestExecutionCallback {
    private final List<Path> mounted = new ArrayList<>();

    /** Mounts a tmpfs of {@code megabytes} MiB at {@code dir} (created if missing). */
    synchronized Path mount(Path dir, int megabytes) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        run("mount", "-t", "tmpfs", "-o", "size=" + megabytes + "m,mode=0755", "pollen-e2e", dir.toString());
        mounted.add(dir);
        return dir;
    }

    /** Bytes in use on the filesystem at {@code dir}. */
    static long used(Path dir) {
        try {
            FileStore store = Files.getFileStore(dir);
            return store.getTotalSpace() - store.getUnallocatedSpace();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public synchronized void afterTestExecution(ExtensionContext context) {
        List<String> problems = new ArrayList<>();
        for (Path dir : mounted.reversed()) {
            try {
                run("umount", "-l", dir.toString());
            } catch (RuntimeException e) {
                problems.add(e.getMessage());
            }
        }
        mounted.clear();
        if (!problems.isEmpty()) {
            throw new AssertionError("unmounting: " + String.join("; ", problems));
        }
    }

    private static void run(String... command) {
        try {
            Path err = Files.createTempFile("pollen-e2e-mount-", ".err");
            try {
                Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(err.toFile())
                        .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
                if (!p.waitFor(30, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    throw new IllegalStateException(String.join(" ", command) + " did not finish within 30 s");
                }
                if (p.exitValue() != 0) {
                    throw new IllegalStateException(String.join(" ", command) + " -> exit " + p.exitValue() + ": "
                            + Files.readString(err, StandardCharsets.UTF_8).strip());
                }
            } finally {
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
