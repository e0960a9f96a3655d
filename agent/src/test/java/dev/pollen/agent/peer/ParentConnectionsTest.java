package dev.pollen.agent.peer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.agent.vortex.VortexTransport;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The pool hands a connection back only to requests on the event loop that drives it. */
class ParentConnectionsTest {
    private static final long TIMEOUT = TimeUnit.SECONDS.toNanos(5);

    private final List<Socket> accepted = new CopyOnWriteArrayList<>();
    private ServerSocket parent;
    private Thread acceptor;
    private EventLoopGroup group;
    private final List<EventLoop> loops = new ArrayList<>();
    private ParentConnections connections;

    @BeforeEach
    void setUp() throws IOException {
        parent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        acceptor = Thread.ofVirtual().start(() -> {
            try {
                while (true) {
                    accepted.add(parent.accept());
                }
            } catch (IOException closed) {
                // the test is over
            }
        });
        VortexTransport transport = VortexTransport.best();
        group = transport.newGroup(2, "pool-test");
        group.forEach(loop -> loops.add((EventLoop) loop));
        Bootstrap bootstrap = new Bootstrap().group(group).channel(transport.socketChannel()).handler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                // a bare connection is all the pool needs
            }
        });
        connections = new ParentConnections(bootstrap, 4);
    }

    @AfterEach
    void tearDown() throws Exception {
        connections.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
        parent.close();
        acceptor.join();
        for (Socket s : accepted) {
            s.close();
        }
    }

    @Test
    void aTasksEventLoopGetsOnlyConnectionsItDrives() throws Exception {
        InetSocketAddress address = (InetSocketAddress) parent.getLocalSocketAddress();
        ParentConnections.Lease first = connections.acquire(address, loops.get(0), TIMEOUT, true);
        assertThat(first.reused()).isFalse();
        assertThat(first.channel().eventLoop()).isSameAs(loops.get(0));
        connections.release(address, first.channel());

        // Another task's loop does not get the idle connection of the first loop: it connects anew, on its own loop.
        ParentConnections.Lease other = connections.acquire(address, loops.get(1), TIMEOUT, true);
        assertThat(other.reused()).isFalse();
        assertThat(other.channel()).isNotSameAs(first.channel());
        assertThat(other.channel().eventLoop()).isSameAs(loops.get(1));

        // The first loop gets its own connection back.
        ParentConnections.Lease again = connections.acquire(address, loops.get(0), TIMEOUT, true);
        assertThat(again.reused()).isTrue();
        assertThat(again.channel()).isSameAs(first.channel());
        connections.release(address, again.channel());
        connections.release(address, other.channel());
    }
}
