package dev.pollen.tls;

import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.util.AdvancedTlsX509KeyManager;
import io.grpc.util.AdvancedTlsX509TrustManager;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.io.Closeable;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

/**
 * Mutual TLS with the certificates in {@link TlsFiles}: this node shows its certificate and accepts only peers whose
 * certificate the CA signed (and that has not expired); no host name is checked, since nodes are reached by IP and
 * a cluster commonly gives every node the same certificate. The files are looked at every {@code reloadInterval} and
 * read again when any of them changed ({@link CertificateReload}): a rotated certificate is used for new connections
 * without a restart. Contexts for Netty (Vortex) and for gRPC
 * (ALPN h2) on both sides share the same key and trust managers.
 */
public final class MutualTls implements AutoCloseable {
    /** A gRPC peer is asked for its certificate but may come without: the interceptor refuses it with a status it can read. */
    private static final ClientAuth GRPC_CLIENT_AUTH = ClientAuth.OPTIONAL;

    private final TlsRefusals refusals;
    private final List<Closeable> reloads;
    private final SslContext server;
    private final SslContext client;
    private final SslContext grpcServer;
    private final SslContext grpcClient;

    private MutualTls(AdvancedTlsX509KeyManager keys, RefusalLoggingTrustManager trust, TlsRefusals refusals,
                      List<Closeable> reloads) throws IOException {
        this.refusals = refusals;
        this.reloads = reloads;
        this.server = build(SslContextBuilder.forServer(keys).trustManager(trust).clientAuth(ClientAuth.REQUIRE), false);
        this.client = build(SslContextBuilder.forClient().keyManager(keys).trustManager(trust), false);
        this.grpcServer = build(SslContextBuilder.forServer(keys).trustManager(trust).clientAuth(GRPC_CLIENT_AUTH), true);
        this.grpcClient = build(SslContextBuilder.forClient().keyManager(keys).trustManager(trust), true);
    }

    /**
     * Reads the files now (a missing or unreadable one fails here, naming it) and again every {@code reloadInterval}
     * on {@code reloader}.
     *
     * @param what the configuration keys the files come from, for messages (e.g. {@code upload.server.caCert/cert/key})
     */
    public static MutualTls load(String what, TlsFiles files, Duration reloadInterval, ScheduledExecutorService reloader,
                                 TlsRefusals refusals) throws IOException {
        AdvancedTlsX509KeyManager keys = new AdvancedTlsX509KeyManager();
        try {
            AdvancedTlsX509TrustManager ca = AdvancedTlsX509TrustManager.newBuilder()
                    .setVerification(AdvancedTlsX509TrustManager.Verification.CERTIFICATE_ONLY_VERIFICATION)
                    .build();
            CertificateReload reload = new CertificateReload(what, files, keys, ca);
            reload.load();
            long period = Math.max(1, reloadInterval.toMillis());
            ScheduledFuture<?> task = reloader.scheduleWithFixedDelay(reload::reloadIfChanged, period, period, TimeUnit.MILLISECONDS);
            return new MutualTls(keys, new RefusalLoggingTrustManager(ca, refusals), refusals, List.of(() -> task.cancel(false)));
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            throw new IOException("cannot use the TLS files of " + what + " (" + files.caCert() + ", " + files.cert() + ", "
                    + files.key() + "): " + e.getMessage() + " (fix: " + what + " must name readable PEM files: the CA's "
                    + "certificate, this node's certificate, its PKCS#8 key)", e);
        }
    }

    private static SslContext build(SslContextBuilder builder, boolean grpc) throws IOException {
        builder.sslProvider(SslProvider.JDK);
        return (grpc ? GrpcSslContexts.configure(builder, SslProvider.JDK) : builder).build();
    }

    /** For a Netty server (Vortex): a peer without a valid certificate fails the handshake. */
    public SslContext server() {
        return server;
    }

    /** For a Netty client (Vortex). */
    public SslContext client() {
        return client;
    }

    /** For a gRPC server; pair it with {@link #requireClientCertificate()}. */
    public SslContext grpcServer() {
        return grpcServer;
    }

    /** For a gRPC client. */
    public SslContext grpcClient() {
        return grpcClient;
    }

    /**
     * Adds TLS at the head of a Netty pipeline, and the handler that reports a failed handshake.
     *
     * @param serverSide whether this end accepted the connection
     */
    public void addTo(ChannelPipeline pipeline, boolean serverSide) {
        SslContext context = serverSide ? server : client;
        pipeline.addFirst("tls-refusals", handshakeRefusals(serverSide));
        pipeline.addFirst("tls", context.newHandler(pipeline.channel().alloc()));
    }

    private ChannelHandler handshakeRefusals(boolean serverSide) {
        return new HandshakeRefusals(refusals, serverSide ? "server" : "client");
    }

    /**
     * Refuses a gRPC call whose peer showed no certificate: {@code UNAUTHENTICATED} with the fix, reported once per
     * peer address. (A certificate the CA did not sign fails the handshake itself.)
     */
    public ServerInterceptor requireClientCertificate() {
        return new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
                SSLSession session = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
                try {
                    if (session != null && session.getPeerCertificates().length > 0) {
                        return next.startCall(call, headers);
                    }
                } catch (SSLPeerUnverifiedException e) {
                    // no certificate: refused below
                }
                SocketAddress remote = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
                String peer = remote instanceof InetSocketAddress a ? a.getAddress().getHostAddress() : String.valueOf(remote);
                refusals.refused("server", peer, "no client certificate");
                call.close(Status.UNAUTHENTICATED.withDescription("this node accepts only peers with a client certificate signed by "
                        + "its CA (fix: set upload.client.caCert, upload.client.cert and upload.client.key on the caller)"), new Metadata());
                return new ServerCall.Listener<>() {
                };
            }
        };
    }

    @Override
    public void close() {
        closeAll(reloads);
    }

    private static void closeAll(List<Closeable> closeables) {
        for (Closeable c : closeables) {
            try {
                c.close();
            } catch (IOException e) {
                // a reload task that cannot be cancelled stops with its executor
            }
        }
    }
}
