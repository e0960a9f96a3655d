package dev.pollen.agent.api;

import dev.pollen.agent.api.SocketStartupException.Reason;
import java.io.IOException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.util.EnumSet;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes a socket path safe to bind, and owns it for the daemon's life.
 *
 * <p>The socket directory is a hostPath shared with other pods, and a daemon killed by SIGKILL or the
 * OOM killer leaves its socket file behind. Deleting whatever is at the path would also steal the
 * socket of a daemon that is still alive, so the order is: hold an exclusive lock beside the socket
 * (two daemons started together cannot both pass), refuse anything that is not a socket, refuse a
 * socket a live server answers on, and only unlink a socket whose connection is refused.
 */
public final class SocketGuard implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SocketGuard.class);
    private static final int S_IFMT = 0170000;
    private static final int S_IFSOCK = 0140000;

    private final Path socket;
    private final Path lockFile;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private Object boundFileKey;

    private SocketGuard(Path socket, Path lockFile, FileChannel lockChannel, FileLock lock) {
        this.socket = socket;
        this.lockFile = lockFile;
        this.lockChannel = lockChannel;
        this.lock = lock;
    }

    /** Takes the lock and clears a stale socket; afterwards the path is free to bind. */
    public static SocketGuard acquire(Path socket) {
        Path dir = socket.getParent();
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new SocketStartupException(Reason.UNUSABLE_PATH, "cannot create socket directory " + dir + ": " + e
                    + " (fix: download.server.socketPath)", e);
        }
        Path lockFile = socket.resolveSibling(socket.getFileName() + ".lock");
        FileChannel channel;
        try {
            channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new SocketStartupException(Reason.UNUSABLE_PATH, "cannot open lock file " + lockFile + ": " + e, e);
        }
        FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (IOException | OverlappingFileLockException e) {
            lock = null;
        }
        if (lock == null) {
            String holder = readHolder(lockFile);
            closeQuietly(channel);
            throw new SocketStartupException(Reason.LOCKED, "another dfdaemon holds the lock " + lockFile
                    + (holder.isEmpty() ? "" : " (pid " + holder + ")") + "; it owns " + socket
                    + " (fix: stop it, or give this one another download.server.socketPath)", null);
        }
        SocketGuard guard = new SocketGuard(socket, lockFile, channel, lock);
        try {
            guard.recordHolder();
            guard.clearStaleSocket();
            return guard;
        } catch (RuntimeException | IOException e) {
            guard.releaseLock();
            if (e instanceof SocketStartupException s) {
                throw s;
            }
            throw new SocketStartupException(Reason.UNUSABLE_PATH, "cannot prepare socket " + socket + ": " + e, e);
        }
    }

    public Path socket() {
        return socket;
    }

    /** Sets the bound socket's mode and remembers its identity, so shutdown removes only our own socket. */
    public void bound(int mode) throws IOException {
        Files.setPosixFilePermissions(socket, permissions(mode));
        boundFileKey = Files.readAttributes(socket, java.nio.file.attribute.BasicFileAttributes.class,
                LinkOption.NOFOLLOW_LINKS).fileKey();
    }

    private void clearStaleSocket() throws IOException {
        int mode;
        try {
            mode = (Integer) Files.getAttribute(socket, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return;
        }
        if ((mode & S_IFMT) != S_IFSOCK) {
            throw new SocketStartupException(Reason.NOT_A_SOCKET, socket + " exists and is " + describe(socket)
                    + ", not a socket; refusing to touch it (fix: move it away, or set download.server.socketPath)", null);
        }
        try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            probe.connect(UnixDomainSocketAddress.of(socket));
            throw new SocketStartupException(Reason.LIVE_DAEMON, "another dfdaemon is serving on " + socket
                    + " (fix: stop it, or set download.server.socketPath to another path)", null);
        } catch (ConnectException refused) {
            Files.delete(socket);
            log.warn("event=stale_socket_recovered path={} cause=\"connection refused\"", socket);
        }
    }

    private static String describe(Path path) {
        if (Files.isDirectory(path, LinkOption.NOFOLLOW_LINKS)) {
            return "a directory";
        }
        if (Files.isSymbolicLink(path)) {
            return "a symbolic link";
        }
        if (Files.isRegularFile(path, LinkOption.NOFOLLOW_LINKS)) {
            return "a regular file";
        }
        return "a special file";
    }

    private void recordHolder() throws IOException {
        byte[] pid = (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII);
        lockChannel.truncate(0);
        lockChannel.write(ByteBuffer.wrap(pid), 0);
        lockChannel.force(false);
    }

    private static String readHolder(Path lockFile) {
        try {
            return Files.readString(lockFile, StandardCharsets.US_ASCII).trim();
        } catch (IOException e) {
            return "";
        }
    }

    private static Set<PosixFilePermission> permissions(int mode) {
        Set<PosixFilePermission> perms = EnumSet.noneOf(PosixFilePermission.class);
        PosixFilePermission[] order = {
                PosixFilePermission.OTHERS_EXECUTE, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_READ,
                PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_READ,
                PosixFilePermission.OWNER_EXECUTE, PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_READ};
        for (int bit = 0; bit < order.length; bit++) {
            if ((mode & (1 << bit)) != 0) {
                perms.add(order[bit]);
            }
        }
        return perms;
    }

    /** Unlinks our socket (never one another process bound since) and releases the lock. */
    @Override
    public void close() {
        try {
            if (boundFileKey != null) {
                Object current = Files.readAttributes(socket, java.nio.file.attribute.BasicFileAttributes.class,
                        LinkOption.NOFOLLOW_LINKS).fileKey();
                if (boundFileKey.equals(current)) {
                    Files.delete(socket);
                }
            }
        } catch (NoSuchFileException ignored) {
            // already gone: nothing to clean up
        } catch (IOException e) {
            log.warn("event=socket_unlink_failed path={} error=\"{}\"", socket, e.toString());
        }
        releaseLock();
    }

    private void releaseLock() {
        try {
            lock.release();
        } catch (IOException e) {
            log.warn("event=lock_release_failed path={} error=\"{}\"", lockFile, e.toString());
        }
        closeQuietly(lockChannel);
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // closing a lock file cannot lose data
        }
    }
}
