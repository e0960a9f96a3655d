package dev.pollen.scheduler;

import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskResponse;
import io.grpc.stub.StreamObserver;
import java.time.Duration;

/** Makes a host fetch a task: DfdaemonUpload.DownloadTask on its upload port. Seed triggers and preheat both call it. */
interface DownloadTasks {
    /**
     * Starts the call and returns at once; {@code responses} sees the host's stream.
     *
     * @param deadline how long the call may take; null for no deadline
     */
    void downloadTask(Host target, Download download, Duration deadline, StreamObserver<DownloadTaskResponse> responses);
}
