package dev.pollen.scheduler;

import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.dfdaemon.v2.DfdaemonUploadGrpc;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskRequest;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskResponse;
import dev.pollen.tls.MutualTls;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/** DfdaemonUpload.DownloadTask over one channel per host address (mutual TLS, or plaintext), kept until {@link #close()}. */
final class UploadCalls implements DownloadTasks, AutoCloseable {
    private final Map<String, ManagedChannel> channels = new ConcurrentHashMap<>();
    private final MutualTls tls;

    /** @param tls the scheduler's certificate for hosts that require one, or null for plaintext */
    UploadCalls(MutualTls tls) {
        this.tls = tls;
    }

    @Override
    public void downloadTask(Host target, Download download, Duration deadline, StreamObserver<DownloadTaskResponse> responses) {
        ManagedChannel channel = channels.computeIfAbsent(target.getIp() + ":" + target.getPort(),
                key -> {
                    NettyChannelBuilder b = NettyChannelBuilder.forAddress(target.getIp(), target.getPort());
                    return (tls == null ? b.usePlaintext() : b.sslContext(tls.grpcClient())).build();
                });
        DfdaemonUploadGrpc.DfdaemonUploadStub stub = DfdaemonUploadGrpc.newStub(channel);
        if (deadline != null) {
            stub = stub.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
        }
        // Not in the caller's call context: the host's download must outlive the stream that asked for it.
        Context previous = Context.ROOT.attach();
        try {
            stub.downloadTask(DownloadTaskRequest.newBuilder().setDownload(download).build(), responses);
        } finally {
            Context.ROOT.detach(previous);
        }
    }

    @Override
    public void close() {
        channels.values().forEach(ManagedChannel::shutdownNow);
    }
}
