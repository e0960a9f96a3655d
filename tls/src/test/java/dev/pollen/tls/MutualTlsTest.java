package dev.pollen.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Mutual TLS between two Netty ends on loopback, with certificates made here. */
class MutualTlsTest {
    @TempDir
    Path dir;
    private final EventLoopGroup loops = new NioEventLoopGroup(2);
    private final ScheduledExecutorService reloader = Executors.newSingleThreadScheduledExecutor();
    private final TlsRefusals refusals = new TlsRefusals();

    @AfterEach
    void stop() {
        loops.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        reloader.shutdownNow();
    }

    /** An echo server behind {@code tls}; returns its port. */
    private int echoServer(MutualTls tls) {
        return ((InetSocketAddress) new ServerBootstrap().group(loops).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new SimpleChannelInboundHandler<ByteBuf>() {
                            @Override
                            protected void channelRead0(ChannelHandlerContext ctx, ByteBuf msg) {
                                ctx.writeAndFlush(msg.retain());
                            }
                        });
                        tls.addTo(ch.pipeline(), true);
                    }
                }).bind("127.0.0.1", 0).syncUninterruptibly().channel().localAddress()).getPort();
    }

    /** What the server echoes to a client behind {@code tls} (or plain, if null); fails when the connection does. */
    private String exchange(MutualTls tls, int port) throws Exception {
        CompletableFuture<String> answer = new CompletableFuture<>();
        Channel ch = new Bootstrap().group(loops).channel(NioSocketChannel.class).handler(new ChannelInitializer<SocketChannel>() {
            @Override
            protected void initChannel(SocketChannel c) {
                c.pipeline().addLast(new SimpleChannelInboundHandler<ByteBuf>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, ByteBuf msg) {
                        answer.complete(msg.toString(StandardCharsets.UTF_8));
                    }

                    @Override
                    public void channelInactive(ChannelHandlerContext ctx) {
                        answer.completeExceptionally(new IllegalStateException("closed"));
                    }
                });
                if (tls != null) {
                    tls.addTo(c.pipeline(), false);
                }
            }
        }).connect("127.0.0.1", port).syncUninterruptibly().channel();
        ch.writeAndFlush(Unpooled.copiedBuffer("ping", StandardCharsets.UTF_8));
        try {
            return answer.get(10, TimeUnit.SECONDS);
        } finally {
            ch.close();
        }
    }

    private MutualTls load(TlsFiles files) throws Exception {
        return MutualTls.load("upload.server.caCert/cert/key", files, Duration.ofMillis(100), reloader, refusals);
    }

    @Test
    void nodesOfOneCaTalkAndEveryOtherPeerIsRefused() throws Exception {
        TestCertificates.Ca ca = TestCertificates.ca(dir, "pollen-ca");
        TestCertificates.Ca other = TestCertificates.ca(dir.resolve("other"), "other-ca");
        int port = echoServer(load(ca.issue(dir, "server")));

        assertThat(exchange(load(ca.issue(dir, "good")), port)).isEqualTo("ping");
        assertThatThrownBy(() -> exchange(load(other.issue(dir, "stranger")), port)).hasMessageContaining("closed");
        assertThatThrownBy(() -> exchange(load(ca.issueExpired(dir, "expired")), port)).hasMessageContaining("closed");
        assertThat(plainAnswer(port)).as("a client without TLS").isNotEqualTo("ping");
    }

    private String plainAnswer(int port) {
        try {
            return exchange(null, port);
        } catch (Exception e) {
            return e.toString();
        }
    }

    @Test
    void aPeerThatKeepsRetryingIsReportedOnce() throws Exception {
        TestCertificates.Ca ca = TestCertificates.ca(dir, "pollen-ca");
        TestCertificates.Ca other = TestCertificates.ca(dir.resolve("other"), "other-ca");
        int port = echoServer(load(ca.issue(dir, "server")));
        // It trusts the server, but another CA signed its own certificate: the server refuses it.
        TlsFiles strangers = other.issue(dir, "stranger");
        MutualTls stranger = load(new TlsFiles(ca.pem(), strangers.cert(), strangers.key()));

        assertThatThrownBy(() -> exchange(stranger, port)).hasMessageContaining("closed");
        await().atMost(Duration.ofSeconds(5)).until(() -> refusals.reported() >= 1);
        int first = refusals.reported();
        for (int i = 0; i < 3; i++) {
            assertThatThrownBy(() -> exchange(stranger, port)).hasMessageContaining("closed");
        }

        assertThat(refusals.reported()).as("refusals reported after three more tries").isEqualTo(first);
        assertThat(refusals.refused("server", "CN=stranger issued by CN=other-ca", "a reason not seen yet")).isTrue();
    }

    @Test
    void aRotatedCertificateIsUsedWithoutARestart() throws Exception {
        TestCertificates.Ca old = TestCertificates.ca(dir.resolve("old"), "old-ca");
        TestCertificates.Ca rotated = TestCertificates.ca(dir.resolve("new"), "new-ca");
        TlsFiles serverFiles = old.issue(dir.resolve("server"), "server");
        int port = echoServer(load(serverFiles));
        MutualTls newClient = load(rotated.issue(dir.resolve("client"), "client"));
        assertThatThrownBy(() -> exchange(newClient, port)).hasMessageContaining("closed");

        // The operator rotates the CA and the server's certificate in place (as a Secret update does).
        TlsFiles next = rotated.issue(dir.resolve("next"), "server");
        Files.copy(next.caCert(), serverFiles.caCert(), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.copy(next.cert(), serverFiles.cert(), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.copy(next.key(), serverFiles.key(), java.nio.file.StandardCopyOption.REPLACE_EXISTING);

        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(200)).ignoreExceptions()
                .until(() -> exchange(newClient, port).equals("ping"));
    }

    @Test
    void missingOrBadFilesNameTheKeysAndTheFix() throws Exception {
        TestCertificates.Ca ca = TestCertificates.ca(dir, "pollen-ca");
        TlsFiles good = ca.issue(dir, "node");
        assertThatThrownBy(() -> load(new TlsFiles(good.caCert(), good.cert(), dir.resolve("missing.pem"))))
                .hasMessageContaining("upload.server.caCert/cert/key").hasMessageContaining("missing.pem").hasMessageContaining("fix:");
        Files.writeString(dir.resolve("garbage.pem"), "not a certificate");
        assertThatThrownBy(() -> load(new TlsFiles(dir.resolve("garbage.pem"), good.cert(), good.key())))
                .hasMessageContaining("garbage.pem");
    }
}
