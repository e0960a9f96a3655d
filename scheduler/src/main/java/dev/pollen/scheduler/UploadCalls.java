package dev.pollen.scheduler;

import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.dfdaemon.v2.DfdaemonUploadGrpc;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskRequest;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskResponse;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/** DfdaemonUpload.DownloadTask over one plaintext channel per host address, kept until {@link #close()}. */
final class UploadCalls implements DownloadTasks, AutoCloseable {
    private final Map<String, ManagedChannel> channels = new ConcurrentHashMap<>();

    @Override
    public void downloadTask(Host target, Download download, Duration deadline, StreamObserver<DownloadTaskResponse> responses) {
        ManagedChannel channel = channels.computeIfAbsent(target.getIp() + ":" + target.getPort(),
                key -> NettyChannelBuilder.forAddress(target.getIp(), target.getPort()).usePlaintext().build());
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
