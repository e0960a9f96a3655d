package dev.pollen.agent.setup;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.Set;

/**
 * One registry's directory under containerd's {@code certs.d}: its hosts.toml and the backup of the file
 * that was there before Pollen wrote one. Pollen's own files start with {@link #MARKER}; any other file is
 * the user's original. The original is copied to {@link #BACKUP} before it is first replaced, and every
 * later run rewrites hosts.toml from that backup, so flags changed between runs (another mirror address,
 * {@code --plain-http}) take effect and the same flags give the same bytes. Every write is a temp file,
 * fsync, rename, directory fsync: containerd reads hosts.toml on each pull and must never see half a file.
 */
final class HostsDirectory {
    static final String FILE = "hosts.toml";
    static final String BACKUP = "hosts.toml.pollen-backup";
    static final String MARKER = "# Written by Pollen (dfdaemon containerd-config).";
    private static final Set<PosixFilePermission> READABLE = PosixFilePermissions.fromString("rw-r--r--");

    enum Outcome { CREATED, UPDATED, REWRITTEN, UNCHANGED, RESTORED, REMOVED, NOT_POLLENS, ABSENT }

    /**
     * What an install will write: {@code backup} is null when the backup on disk is already right or none is
     * needed; {@code fromOriginal}: there is a user's original (else Pollen created the file).
     */
    record Plan(HostsDirectory dir, byte[] content, byte[] backup, byte[] current, boolean fromOriginal) {
    }

    private final Path dir;

    HostsDirectory(Path certsDir, String registry) {
        this.dir = certsDir.resolve(registry);
    }

    Path file() {
        return dir.resolve(FILE);
    }

    /** Reads and parses what is there, writes nothing: a file that cannot be parsed stops the run before any write. */
    Plan plan(Registry registry, Mirror mirror) {
        byte[] current = read(file());
        byte[] backup = read(dir.resolve(BACKUP));
        byte[] original;
        byte[] backupToWrite = null;
        if (current != null && !writtenByPollen(current)) {
            original = current;
            backupToWrite = Arrays.equals(current, backup) ? null : current;
        } else {
            original = backup;
        }
        Path source = original == current ? file() : dir.resolve(BACKUP);
        var tree = HostsToml.merge(original == null ? TomlText.newTable() : TomlText.parse(source, original), registry, mirror);
        String header = MARKER + "\n" + (original == null
                ? "# There was no hosts.toml here before; --uninstall removes this one.\n"
                : "# Made from the original, kept in " + BACKUP + " (edit that one: every run rewrites this file from it;"
                        + " --uninstall puts it back).\n");
        return new Plan(this, TomlText.render(tree, header, HostsToml.HOST), backupToWrite, current, original != null);
    }

    Outcome apply(Plan plan) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw failure("create", dir, e);
        }
        Set<PosixFilePermission> mode = plan.current() == null ? READABLE : modeOf(file());
        if (plan.backup() != null) {
            writeAtomically(dir.resolve(BACKUP), plan.backup(), mode);
        }
        if (Arrays.equals(plan.current(), plan.content())) {
            return Outcome.UNCHANGED;
        }
        writeAtomically(file(), plan.content(), mode);
        return plan.current() == null ? Outcome.CREATED : plan.fromOriginal() ? Outcome.UPDATED : Outcome.REWRITTEN;
    }

    /** Puts the original back (byte for byte), or removes the file Pollen created; a user's file is left alone. */
    Outcome uninstall() {
        byte[] current = read(file());
        Path backup = dir.resolve(BACKUP);
        if (current != null && !writtenByPollen(current)) {
            return Outcome.NOT_POLLENS;
        }
        try {
            if (Files.exists(backup)) {
                Files.move(backup, file(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                syncDirectory(dir);
                return Outcome.RESTORED;
            }
            if (current == null) {
                return Outcome.ABSENT;
            }
            Files.delete(file());
            syncDirectory(dir);
        } catch (IOException e) {
            throw failure("restore", file(), e);
        }
        try {
            Files.delete(dir);
        } catch (DirectoryNotEmptyException e) {
            // The user keeps certificates or other files here: the directory stays.
        } catch (IOException e) {
            throw failure("remove", dir, e);
        }
        return Outcome.REMOVED;
    }

    /** Whether uninstall has anything to do here: a hosts.toml of Pollen's, or a backup of Pollen's. */
    boolean touchedByPollen() {
        byte[] current = read(file());
        return (current != null && writtenByPollen(current)) || Files.exists(dir.resolve(BACKUP));
    }

    static boolean writtenByPollen(byte[] content) {
        byte[] marker = MARKER.getBytes(StandardCharsets.UTF_8);
        return content.length >= marker.length && Arrays.equals(content, 0, marker.length, marker, 0, marker.length);
    }

    private static byte[] read(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw failure("read", file, e);
        }
    }

    private static Set<PosixFilePermission> modeOf(Path file) {
        try {
            return Files.getPosixFilePermissions(file);
        } catch (IOException e) {
            throw failure("read", file, e);
        }
    }

    private static void writeAtomically(Path target, byte[] content, Set<PosixFilePermission> mode) {
        Path tmp = null;
        try {
            tmp = Files.createTempFile(target.getParent(), "." + target.getFileName() + ".", ".tmp");
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ByteBuffer buf = ByteBuffer.wrap(content);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true);
            }
            // containerd may run as another user than this command: keep the original's mode, else 0644.
            Files.setPosixFilePermissions(tmp, mode);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            tmp = null;
            syncDirectory(target.getParent());
        } catch (IOException e) {
            throw failure("write", target, e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the failure being reported matters more than a leftover temp file
                }
            }
        }
    }

    private static void syncDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }

    private static SetupException failure(String action, Path path, IOException e) {
        String reason = e instanceof AccessDeniedException ? "permission denied"
                : e instanceof FileSystemException fse && fse.getReason() != null ? fse.getReason()
                : e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
        String fix = e instanceof AccessDeniedException ? "run as root (containerd's files are root's)"
                : "make --certs-dir name a writable directory, the one containerd's config_path names";
        return new SetupException("cannot " + action + " " + path + ": " + reason + " (fix: " + fix + ")", e);
    }
}
