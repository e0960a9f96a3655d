package dev.pollen.agent.upload;

import dev.pollen.proto.dfdaemon.v2.DfdaemonUploadGrpc;
import io.grpc.Metadata;
import io.grpc.ServerStreamTracer;
import java.util.Set;

/**
 * Drops the caller's {@code grpc-timeout} on SyncPieces and SyncHost, whose streams last as long as a download.
 * Dragonfly's Rust children send {@code grpc-timeout: 10s} on both (dragonflyoss/client
 * {@code dfdaemon_upload.rs}, {@code make_request}); a tonic server bounds only the wait for the response
 * headers with it, while grpc-java's would cancel the whole stream after 10 s. grpc-java's Netty transport hands
 * the request headers to each tracer factory ({@code StatsTraceContext.newServerContext}) before
 * {@code ServerImpl} reads the timeout from the same headers to build the call's context ({@code createContext},
 * grpc-java 1.68), so removing it here gives those calls no deadline; the server's own limits still hold
 * ({@code upload.syncPieces.maxAge}, keep-alive pings, a child that cancels).
 */
final class StreamingDeadlines extends ServerStreamTracer.Factory {
    private static final Metadata.Key<String> TIMEOUT = Metadata.Key.of("grpc-timeout", Metadata.ASCII_STRING_MARSHALLER);
    private static final ServerStreamTracer NOOP = new ServerStreamTracer() {
    };

    static final Set<String> METHODS = Set.of(
            DfdaemonUploadGrpc.getSyncPiecesMethod().getFullMethodName(),
            DfdaemonUploadGrpc.getSyncHostMethod().getFullMethodName());

    @Override
    public ServerStreamTracer newServerStreamTracer(String fullMethodName, Metadata headers) {
        if (METHODS.contains(fullMethodName)) {
            headers.discardAll(TIMEOUT);
        }
        return NOOP;
    }
}
