package dev.pollen.agent.upload;

import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.origin.OriginAddressPolicy;
import dev.pollen.agent.error.GrpcErrors;
import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.storage.TaskMetadata;
import dev.pollen.agent.task.ActiveTask;
import dev.pollen.agent.task.TaskManager;
import dev.pollen.policy.SuperSeeding;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.proto.common.v2.Task;
import dev.pollen.proto.common.v2.TaskType;
import dev.pollen.proto.common.v2.TrafficType;
import dev.pollen.proto.dfdaemon.v2.DfdaemonDownloadGrpc;
import dev.pollen.proto.dfdaemon.v2.DfdaemonUploadGrpc;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskRequest;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskResponse;
import dev.pollen.proto.dfdaemon.v2.StatTaskRequest;
import dev.pollen.proto.dfdaemon.v2.SyncHostRequest;
import dev.pollen.proto.dfdaemon.v2.SyncPiecesRequest;
import dev.pollen.proto.dfdaemon.v2.SyncPiecesResponse;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code dfdaemon.v2.DfdaemonUpload}: what other peers call. SyncPieces streams the pieces a child is
 * interested in as they land here, so a child can fetch from a parent that is itself still
 * downloading; the bytes then travel over Vortex. Only recorded pieces (on disk, digest checked) are
 * ever announced. DownloadTask, which makes this node fetch for someone else, is for its schedulers
 * only ({@link DownloadTaskGuard}) and never reaches a denied origin ({@link OriginAddressPolicy}).
 */
public final class DfdaemonUploadService extends DfdaemonUploadGrpc.DfdaemonUploadImplBase {
    private static final Logger log = LoggerFactory.getLogger(DfdaemonUploadService.class);

    private final TaskManager tasks;
    private final DfdaemonDownloadGrpc.DfdaemonDownloadImplBase downloads;
    private final OriginAddressPolicy origins;
    private final String advertisedIp;
    private final int vortexPort;
    private final Supplier<Host> host;
    private final ScheduledExecutorService timer;
    private final Duration syncHostInterval;
    private final Duration syncPiecesMaxAge;
    private final SuperSeeding superSeeding;

    /**
     * @param downloads runs DownloadTask for the scheduler, storing the task without any output file
     * @param origins the origins DownloadTask never fetches (its callers are checked by {@link DownloadTaskGuard})
     * @param host this host with its current load, for SyncHost
     * @param timer runs SyncHost's repeats and ends SyncPieces streams at their maximum age
     * @param syncHostInterval how often SyncHost sends the host again
     * @param syncPiecesMaxAge how long one SyncPieces stream may last
     * @param superSeeding on a seed peer, which child hears of a fresh piece first, and when the others do
     */
    public DfdaemonUploadService(TaskManager tasks, DfdaemonDownloadGrpc.DfdaemonDownloadImplBase downloads, OriginAddressPolicy origins,
                                 String advertisedIp, int vortexPort, Supplier<Host> host, ScheduledExecutorService timer,
                                 Duration syncHostInterval, Duration syncPiecesMaxAge, SuperSeeding superSeeding) {
        this.tasks = tasks;
        this.downloads = downloads;
        this.origins = origins;
        this.advertisedIp = advertisedIp;
        this.vortexPort = vortexPort;
        this.host = host;
        this.timer = timer;
        this.syncHostInterval = syncHostInterval;
        this.syncPiecesMaxAge = syncPiecesMaxAge;
        this.superSeeding = superSeeding;
    }

    /** Streams this host (identity and load) now and then every interval, until the caller cancels. */
    @Override
    public void syncHost(SyncHostRequest request, StreamObserver<Host> responses) {
        ServerCallStreamObserver<Host> call = (ServerCallStreamObserver<Host>) responses;
        // Runs of one fixed-rate task never overlap, so the stream never sees two sends at once.
        ScheduledFuture<?> repeat = timer.scheduleAtFixedRate(() -> {
            try {
                if (!call.isCancelled()) {
                    call.onNext(host.get());
                }
            } catch (RuntimeException e) {
                // The caller went away between the check and the send: the cancel handler stops the repeats.
                log.debug("event=sync_host_send_failed peer={} error=\"{}\"", request.getPeerId(), e.toString());
            }
        }, 0, syncHostInterval.toMillis(), TimeUnit.MILLISECONDS);
        call.setOnCancelHandler(() -> repeat.cancel(false));
    }

    /**
     * The scheduler asks this node to fetch a task (a seed's back-to-source, or a preheat): stored only,
     * never written to a path a caller names. {@link DownloadTaskGuard} has already checked the caller; the
     * origin is checked here, before anything connects to it.
     */
    @Override
    public void downloadTask(DownloadTaskRequest request, StreamObserver<DownloadTaskResponse> responses) {
        String url = request.getDownload().getUrl();
        try {
            origins.check(new URI(url));
        } catch (URISyntaxException e) {
            responses.onError(Status.INVALID_ARGUMENT.withDescription("malformed url " + url + ": " + e.getReason())
                    .asRuntimeException());
            return;
        } catch (PollenException e) {
            log.warn("event=download_task_refused url={} code={} error=\"{}\"", url, e.code(), e.getMessage());
            responses.onError(GrpcErrors.toStatus(e));
            return;
        }
        Download download = request.getDownload().toBuilder().clearOutputPath().build();
        downloads.downloadTask(request.toBuilder().setDownload(download).build(), responses);
    }

    @Override
    public void syncPieces(SyncPiecesRequest request, StreamObserver<SyncPiecesResponse> responses) {
        ActiveTask task = lease(request.getTaskId(), responses);
        if (task != null) {
            new PieceStream(tasks, task, (ServerCallStreamObserver<SyncPiecesResponse>) responses, advertisedIp, vortexPort, superSeeding)
                    .start(request.getInterestedPieceNumbersList(), timer, syncPiecesMaxAge);
        }
    }

    @Override
    public void statTask(StatTaskRequest request, StreamObserver<Task> responses) {
        ActiveTask task = lease(request.getTaskId(), responses);
        if (task == null) {
            return;
        }
        try {
            TaskMetadata meta = task.metadata();
            Task.Builder b = Task.newBuilder().setId(meta.taskId()).setType(TaskType.STANDARD).setUrl(meta.url())
                    .setContentLength(Math.max(0, meta.contentLength())).setPieceCount(Math.max(0, meta.pieceCount()))
                    .setState(meta.finished() ? "Succeeded" : "Running");
            for (PieceRecord p : task.store().pieces()) {
                b.addPieces(Piece.newBuilder().setNumber(p.number()).setOffset(p.offset()).setLength(p.length())
                        .setDigest(p.digest()).setTrafficType(TrafficType.REMOTE_PEER));
            }
            responses.onNext(b.build());
            responses.onCompleted();
        } finally {
            tasks.release(task);
        }
    }

    private <T> ActiveTask lease(String taskId, StreamObserver<T> responses) {
        try {
            ActiveTask task = dev.pollen.agent.storage.Storage.isTaskId(taskId) ? tasks.acquireExisting(taskId) : null;
            if (task == null) {
                responses.onError(Status.NOT_FOUND.withDescription("task " + taskId + " is not on this peer").asRuntimeException());
            }
            return task;
        } catch (PollenException e) {
            responses.onError(Status.NOT_FOUND.withDescription(e.getMessage()).asRuntimeException());
        } catch (IOException e) {
            log.warn("event=upload_lease_failed task={} error=\"{}\"", taskId, e.toString());
            responses.onError(Status.INTERNAL.withDescription("storage error: " + e).asRuntimeException());
        }
        return null;
    }
}
