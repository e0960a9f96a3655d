package dev.pollen.agent.storage;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.UUID;

/**
 * Puts a task's content (or a range of it) at a user's output path so that the path only ever holds
 * complete, verified content: bytes go to a temporary name in the same directory, are checked
 * against the expected digest, and are renamed into place atomically. Before {@link #write} returns
 * (and the caller is told of success) the output's bytes and its directory entry are forced to the
 * device, so the output survives a power loss, not only a crash of the daemon.
 */
public final class OutputWriter {

    private OutputWriter() {
    }

    /** Fails early, before any download, when the output could never be written. */
    public static void checkWritable(Path output, boolean overwrite) {
        if (!output.isAbsolute()) {
            throw new PollenException(ErrorCode.OUTPUT_INVALID, "output path " + output + " is not absolute");
        }
        Path dir = output.getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new PollenException(ErrorCode.OUTPUT_INVALID, "output directory " + dir
                    + " does not exist (fix: create it or choose another -O path)");
        }
        if (Files.isDirectory(output)) {
            throw new PollenException(ErrorCode.OUTPUT_INVALID, "output path " + output + " is a directory (fix: name a file with -O)");
        }
        if (Files.exists(output) && !overwrite) {
            throw new PollenException(ErrorCode.OUTPUT_EXISTS, "output file " + output + " already exists (fix: --overwrite)");
        }
        if (!Files.isWritable(dir)) {
            throw new PollenException(ErrorCode.OUTPUT_INVALID, "output directory " + dir + " is not writable by dfdaemon");
        }
    }

    /** The digest of {@code length} bytes at {@code offset} of the content. */
    public static String digestOf(StoredTask task, long offset, long length, ContentDigest digest) throws IOException {
        ContentDigest.Hasher hasher = digest.hasher();
        update(task, offset, length, hasher);
        return hasher.value();
    }

    /** Feeds {@code length} stored bytes from {@code offset} to {@code hasher}. */
    public static void update(StoredTask task, long offset, long length, ContentDigest.Hasher hasher) throws IOException {
        if (task.feed(offset, length, hasher::update) < length) {
            throw new IOException("content of task " + task.taskId() + " is shorter than recorded");
        }
    }

    /**
     * Writes {@code length} bytes at {@code offset} to {@code output}. The whole content is hard-linked
     * to the stored copy when they share a filesystem (Dragonfly's behaviour; the store notices a write
     * through the link by the content's mtime and re-checks its pieces), and copied otherwise, or
     * refused with {@code forceHardLink}.
     *
     * @return true when the output is a hard link
     */
    public static boolean write(StoredTask task, long offset, long length, Path output, boolean overwrite, boolean forceHardLink)
            throws IOException {
        checkWritable(output, overwrite);
        Path tmp = output.resolveSibling("." + output.getFileName() + "." + UUID.randomUUID() + ".pollen-tmp");
        boolean whole = offset == 0 && length == task.metadata().contentLength();
        if (forceHardLink && !whole) {
            throw new PollenException(ErrorCode.INVALID_ARGUMENT, "a hard link needs the whole file, not a range (fix: drop --force-hard-link)");
        }
        boolean linked = false;
        try {
            linked = whole && link(tmp, task, forceHardLink);
            if (!linked) {
                copy(task.content(), offset, length, tmp);
            }
            // A link shares the stored content's inode, whose own sync may still be under way: forced here either way.
            DurableFiles.force(tmp);
            if (overwrite) {
                Files.move(tmp, output, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } else {
                // A link cannot replace an existing name, so a file created meanwhile is never clobbered.
                Files.createLink(output, tmp);
                Files.delete(tmp);
            }
            DurableFiles.syncDirectory(output.getParent());
            return linked;
        } catch (FileAlreadyExistsException e) {
            throw new PollenException(ErrorCode.OUTPUT_EXISTS, "output file " + output + " already exists (fix: --overwrite)");
        } catch (IOException e) {
            // Full or not is asked of the output's filesystem, never read from the message.
            if (DiskSpace.FILE_STORE.isFull(output.getParent(), linked ? 0 : length)) {
                throw new PollenException(ErrorCode.NO_SPACE, "no space left writing " + output
                        + " (fix: free space on its filesystem or choose another -O path)", e);
            }
            throw e;
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static boolean link(Path tmp, StoredTask task, boolean required) {
        try {
            Files.createLink(tmp, task.contentPath());
            return true;
        } catch (IOException | UnsupportedOperationException e) {
            if (required) {
                throw new PollenException(ErrorCode.OUTPUT_INVALID, "cannot hard-link " + tmp.getParent() + " to the stored content "
                        + task.contentPath() + " (" + e + "); they must share a filesystem (fix: drop --force-hard-link to copy)");
            }
            return false;
        }
    }

    private static void copy(FileChannel from, long offset, long length, Path to) throws IOException {
        try (FileChannel out = FileChannel.open(to, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            long done = 0;
            while (done < length) {
                long n = from.transferTo(offset + done, length - done, out);
                if (n <= 0) {
                    throw new IOException("stored content ended after " + done + " of " + length + " bytes");
                }
                done += n;
            }
        }
    }
}
