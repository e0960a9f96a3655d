package dev.pollen.agent.upload;

import dev.pollen.agent.PollenException;
import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.storage.TaskMetadata;
import dev.pollen.agent.task.ActiveTask;
import dev.pollen.agent.task.TaskManager;
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
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code dfdaemon.v2.DfdaemonUpload}: what other peers call. SyncPieces streams the pieces a child is
 * interested in as they land here, so a child can fetch from a parent that is itself still
 * downloading; the bytes then travel over Vortex. Only recorded pieces (on disk, digest checked) are
 * ever announced.
 */
public final class DfdaemonUploadService extends DfdaemonUploadGrpc.DfdaemonUploadImplBase {
    private static final Logger log = LoggerFactory.getLogger(DfdaemonUploadService.class);

    private final TaskManager tasks;
    private final DfdaemonDownloadGrpc.DfdaemonDownloadImplBase downloads;
    private final String advertisedIp;
    private final int vortexPort;
    private final Supplier<Host> host;
    private final ScheduledExecutorService timer;
    private final Duration syncHostInterval;

    /**
     * @param downloads runs DownloadTask for the scheduler (seed peers), storing the task without any output file
     * @param host this host with its current load, for SyncHost
     * @param syncHostInterval how often SyncHost sends the host again
     */
    public DfdaemonUploadService(TaskManager tasks, DfdaemonDownloadGrpc.DfdaemonDownloadImplBase downloads, String advertisedIp,
                                 int vortexPort, Supplier<Host> host, ScheduledExecutorService timer, Duration syncHostInterval) {
        this.tasks = tasks;
        this.downloads = downloads;
        this.advertisedIp = advertisedIp;
        this.vortexPort = vortexPort;
        this.host = host;
        this.timer = timer;
        this.syncHostInterval = syncHostInterval;
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

    /** The scheduler asks a seed peer to fetch a task: stored only, never written to a path a caller names. */
    @Override
    public void downloadTask(DownloadTaskRequest request, StreamObserver<DownloadTaskResponse> responses) {
        Download download = request.getDownload().toBuilder().clearOutputPath().build();
        downloads.downloadTask(request.toBuilder().setDownload(download).build(), responses);
    }

    @Override
    public void syncPieces(SyncPiecesRequest request, StreamObserver<SyncPiecesResponse> responses) {
        ServerCallStreamObserver<SyncPiecesResponse> call = (ServerCallStreamObserver<SyncPiecesResponse>) responses;
        ActiveTask task = lease(request.getTaskId(), responses);
        if (task == null) {
            return;
        }
        Set<Integer> wanted = new HashSet<>(request.getInterestedPieceNumbersList());
        Set<Integer> sent = new HashSet<>();
        AtomicBoolean done = new AtomicBoolean();
        Runnable[] unsubscribe = {() -> { }};
        Runnable finish = () -> {
            if (done.compareAndSet(false, true)) {
                unsubscribe[0].run();
                tasks.release(task);
            }
        };
        call.setOnCancelHandler(finish);
        // Under the call's lock: pieces from the store and from the listener must not interleave.
        Object lock = new Object();
        java.util.function.Consumer<PieceRecord> send = piece -> {
            synchronized (lock) {
                if (done.get() || (!wanted.isEmpty() && !wanted.contains(piece.number())) || !sent.add(piece.number())) {
                    return;
                }
                call.onNext(SyncPiecesResponse.newBuilder().setNumber(piece.number()).setOffset(piece.offset())
                        .setLength(piece.length()).setIp(advertisedIp).setTcpPort(vortexPort).build());
                if (complete(task.metadata(), wanted, sent)) {
                    finish.run();
                    call.onCompleted();
                }
            }
        };
        unsubscribe[0] = task.onPiece(send);
        task.store().pieces().forEach(send);
        synchronized (lock) {
            if (!done.get() && complete(task.metadata(), wanted, sent)) {
                finish.run();
                call.onCompleted();
            }
        }
    }

    private static boolean complete(TaskMetadata meta, Set<Integer> wanted, Set<Integer> sent) {
        if (!wanted.isEmpty()) {
            return sent.containsAll(wanted);
        }
        return meta.lengthKnown() && sent.size() >= meta.pieceCount();
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
