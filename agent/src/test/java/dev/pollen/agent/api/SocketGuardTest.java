package dev.pollen.agent.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pollen.agent.api.SocketStartupException.Reason;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SocketGuardTest {
    @TempDir
    Path dir;

    private static ServerSocketChannel listen(Path socket) throws Exception {
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        return server;
    }

    @Test
    void createsAMissingDirectory() {
        Path socket = dir.resolve("a/b/dfdaemon.sock");
        try (SocketGuard guard = SocketGuard.acquire(socket)) {
            assertThat(socket.getParent()).isDirectory();
            assertThat(socket.resolveSibling("dfdaemon.sock.lock")).exists();
        }
    }

    @Test
    void recoversAStaleSocketNobodyListensOn() throws Exception {
        Path socket = dir.resolve("dfdaemon.sock");
        listen(socket).close(); // closing a listener leaves its file behind, as a killed daemon does
        assertThat(socket).exists();
        try (SocketGuard guard = SocketGuard.acquire(socket)) {
            assertThat(socket).doesNotExist();
        }
    }

    @Test
    void refusesToStealTheSocketOfALiveServer() throws Exception {
        Path socket = dir.resolve("dfdaemon.sock");
        try (ServerSocketChannel live = listen(socket)) {
            assertThatThrownBy(() -> SocketGuard.acquire(socket))
                    .isInstanceOfSatisfying(SocketStartupException.class, e -> assertThat(e.reason()).isEqualTo(Reason.LIVE_DAEMON))
                    .hasMessageContaining("another dfdaemon is serving on " + socket);
            assertThat(socket).exists();
        }
    }

    @Test
    void refusesToTouchARegularFileOrDirectory() throws Exception {
        Path socket = dir.resolve("dfdaemon.sock");
        Files.writeString(socket, "precious");
        assertThatThrownBy(() -> SocketGuard.acquire(socket))
                .isInstanceOfSatisfying(SocketStartupException.class, e -> assertThat(e.reason()).isEqualTo(Reason.NOT_A_SOCKET))
                .hasMessageContaining("is a regular file, not a socket");
        assertThat(Files.readString(socket)).isEqualTo("precious");
        Files.delete(socket);
        Files.createDirectory(socket);
        assertThatThrownBy(() -> SocketGuard.acquire(socket)).hasMessageContaining("is a directory");
        assertThat(socket).isDirectory();
    }

    @Test
    void aSecondGuardOnTheSamePathIsRefusedWhileTheFirstHoldsTheLock() {
        Path socket = dir.resolve("dfdaemon.sock");
        try (SocketGuard first = SocketGuard.acquire(socket)) {
            assertThatThrownBy(() -> SocketGuard.acquire(socket))
                    .isInstanceOfSatisfying(SocketStartupException.class, e -> assertThat(e.reason()).isEqualTo(Reason.LOCKED))
                    .hasMessageContaining("another dfdaemon holds the lock");
        }
        try (SocketGuard again = SocketGuard.acquire(socket)) {
            assertThat(again.socket()).isEqualTo(socket);
        }
    }

    @Test
    void setsTheSocketModeAndUnlinksOnlyItsOwnSocket() throws Exception {
        Path socket = dir.resolve("dfdaemon.sock");
        SocketGuard guard = SocketGuard.acquire(socket);
        ServerSocketChannel ours = listen(socket);
        guard.bound(0660);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(socket))).isEqualTo("rw-rw----");
        ours.close();
        guard.close();
        assertThat(socket).doesNotExist();
    }
}
