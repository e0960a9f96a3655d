package dev.pollen.scheduler;

import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskResponse;
import io.grpc.stub.StreamObserver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Asks a seed peer to download a task from the origin (DfdaemonUpload.DownloadTask), so that the
 * peers which asked first fetch from the seed instead of all going to the origin.
 */
final class SeedTrigger {
    private static final Logger log = LoggerFactory.getLogger(SeedTrigger.class);

    private final DownloadTasks calls;

    SeedTrigger(DownloadTasks calls) {
        this.calls = calls;
    }

    void trigger(Host seed, String taskId, Download download) {
        log.info("event=seed_triggered task={} seed={}", taskId, seed.getId());
        // No output path: the seed only stores the task and serves it.
        Download forSeed = download.toBuilder().clearOutputPath().clearRange().setNeedBackToSource(false).build();
        calls.downloadTask(seed, forSeed, null, new StreamObserver<>() {
            @Override
            public void onNext(DownloadTaskResponse value) {
                // progress reaches the scheduler through the seed's own AnnouncePeer stream
            }

            @Override
            public void onError(Throwable t) {
                log.warn("event=seed_download_failed task={} seed={} address={}:{} error=\"{}\" cause=\"{}\"", taskId,
                        seed.getId(), seed.getIp(), seed.getPort(), t.toString(), String.valueOf(t.getCause()));
            }

            @Override
            public void onCompleted() {
                log.info("event=seed_download_finished task={} seed={}", taskId, seed.getId());
            }
        });
    }
}
