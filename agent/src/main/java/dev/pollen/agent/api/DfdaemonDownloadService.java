package dev.pollen.agent.api;

import com.google.protobuf.Empty;
import com.google.protobuf.Timestamp;
import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.GrpcErrors;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.storage.TaskSnapshot;
import dev.pollen.agent.storage.TaskMetadata;
import dev.pollen.agent.task.BlobReadCheck;
import dev.pollen.agent.task.DownloadListener;
import dev.pollen.agent.task.DownloadRequest;
import dev.pollen.agent.task.Downloader;
import dev.pollen.agent.task.ReadyPiece;
import dev.pollen.agent.task.TaskManager;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.proto.common.v2.Range;
import dev.pollen.proto.common.v2.Task;
import dev.pollen.proto.common.v2.TaskType;
import dev.pollen.proto.common.v2.TrafficType;
import dev.pollen.proto.dfdaemon.v2.DeleteLocalTaskRequest;
import dev.pollen.proto.dfdaemon.v2.DeleteTaskRequest;
import dev.pollen.proto.dfdaemon.v2.DfdaemonDownloadGrpc;
import dev.pollen.proto.dfdaemon.v2.DownloadPieceFinishedResponse;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskRequest;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskResponse;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskStartedResponse;
import dev.pollen.proto.dfdaemon.v2.ListLocalTasksRequest;
import dev.pollen.proto.dfdaemon.v2.ListLocalTasksResponse;
import dev.pollen.proto.dfdaemon.v2.StatLocalTaskRequest;
import dev.pollen.proto.dfdaemon.v2.StatLocalTaskResponse;
import dev.pollen.proto.dfdaemon.v2.StatTaskRequest;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code dfdaemon.v2.DfdaemonDownload} on the local socket: what dfget (and later the proxy) call.
 * Every failure becomes a status with the right code and a message that names the cause; nothing a
 * caller sends can take the daemon down.
 */
public final class DfdaemonDownloadService extends DfdaemonDownloadGrpc.DfdaemonDownloadImplBase {
    private static final Logger log = LoggerFactory.getLogger(DfdaemonDownloadService.class);

    private final String hostId;
    private final Downloader downloader;
    private final TaskManager tasks;
    private final Storage storage;
    private final PieceContent contents;
    private final BlobReadCheck blobReads;

    /** @param blobReads confirms with its registry that a caller may have a blob it names by digest */
    public DfdaemonDownloadService(String hostId, Downloader downloader, TaskManager tasks, Storage storage, BlobReadCheck blobReads) {
        this.hostId = hostId;
        this.downloader = downloader;
        this.tasks = tasks;
        this.storage = storage;
        this.contents = new PieceContent(tasks);
        this.blobReads = blobReads;
    }

    @Override
    public void downloadTask(DownloadTaskRequest request, StreamObserver<DownloadTaskResponse> responses) {
        download(request, responses, blobReads);
    }

    /**
     * DownloadTask as the peer API runs it: its caller is a scheduler that {@code DownloadTaskGuard} let in (a seed's
     * back-to-source, a preheat carrying the registry's credentials) and the task is only stored, never written where
     * the caller says, so a blob it names is not confirmed with its registry first.
     */
    public DfdaemonDownloadGrpc.DfdaemonDownloadImplBase forScheduler() {
        return new DfdaemonDownloadGrpc.DfdaemonDownloadImplBase() {
            @Override
            public void downloadTask(DownloadTaskRequest request, StreamObserver<DownloadTaskResponse> responses) {
                download(request, responses, BlobReadCheck.OFF);
            }
        };
    }

    private void download(DownloadTaskRequest request, StreamObserver<DownloadTaskResponse> responses, BlobReadCheck blobReads) {
        ServerCallStreamObserver<DownloadTaskResponse> call = (ServerCallStreamObserver<DownloadTaskResponse>) responses;
        CompletableFuture<Void> cancelled = new CompletableFuture<>();
        AtomicBoolean timedOut = new AtomicBoolean();
        // The call's context, not setOnCancelHandler: gRPC delivers onCancel on the call's serializing executor, that
        // is after this method returns, while it cancels the context at once (ServerImpl's ContextCloser).
        Context.current().addListener(ignored -> cancelled.complete(null), Runnable::run);
        String url = request.getDownload().getUrl();
        try {
            DownloadRequest download = DownloadRequests.from(request.getDownload());
            blobReads.confirm(download.spec());
            String taskId = download.spec().taskId();
            String peerId = hostId + "-" + UUID.randomUUID();
            if (request.getDownload().hasTimeout()) {
                Duration timeout = Duration.ofSeconds(request.getDownload().getTimeout().getSeconds(),
                        request.getDownload().getTimeout().getNanos());
                if (!timeout.isZero()) {
                    // Unlike a delayed task, the timer of orTimeout is cancelled once the call ends (below).
                    CompletableFuture<Void> deadline = new CompletableFuture<Void>().orTimeout(timeout.toNanos(), TimeUnit.NANOSECONDS);
                    deadline.whenComplete((ignored, error) -> {
                        if (error != null) {
                            // The flag first: the waiting call wakes as soon as the future completes.
                            timedOut.set(!cancelled.isDone());
                            cancelled.complete(null);
                        }
                    });
                    cancelled.whenComplete((ignored, error) -> deadline.complete(null));
                }
            }
            log.info("event=download_started task={} peer={} url={}", taskId, peerId, url);
            long started = System.nanoTime();
            Listener listener = new Listener(call, taskId, peerId, download.range(),
                    request.getDownload().getNeedPieceContent(), cancelled);
            TaskMetadata meta = downloader.download(download, listener, cancelled);
            call.onCompleted();
            log.info("event=download_finished task={} peer={} bytes={} ms={}", taskId, peerId, meta.contentLength(),
                    (System.nanoTime() - started) / 1_000_000);
        } catch (PollenException e) {
            log.info("event=download_failed url={} code={} error=\"{}\"", url, e.code(), e.getMessage());
            responses.onError(GrpcErrors.toStatus(e));
        } catch (CancellationException e) {
            if (timedOut.get()) {
                responses.onError(GrpcErrors.toStatus(new PollenException(ErrorCode.TIMEOUT, "download of " + url
                        + " did not finish within its timeout (fix: raise --timeout)")));
            } else {
                log.info("event=download_abandoned url={} reason=caller_cancelled", url);
            }
        } catch (IOException e) {
            log.warn("event=download_failed url={} error=\"{}\"", url, e.toString());
            responses.onError(GrpcErrors.toStatus(storageError(e)));
        } catch (RuntimeException e) {
            log.error("event=download_failed url={} error=\"{}\"", url, e.toString(), e);
            responses.onError(Status.INTERNAL.withDescription("internal error: " + e).asRuntimeException());
        } finally {
            // The call is over: its deadline timer and whatever waits on it are let go.
            cancelled.complete(null);
        }
    }

    /** A storage failure outside a piece write (creating a task, reading it back): named as local, full or not. */
    private PollenException storageError(IOException e) {
        return dev.pollen.agent.storage.LocalStorageError.of("task data", storage.dir().resolve("tasks"), 0, e);
    }

    @Override
    public void statTask(StatTaskRequest request, StreamObserver<Task> responses) {
        withSnapshot(request.getTaskId(), responses, task -> {
            TaskMetadata meta = task.metadata();
            Task.Builder b = Task.newBuilder()
                    .setId(meta.taskId())
                    .setType(TaskType.STANDARD)
                    .setUrl(meta.url())
                    .setContentLength(Math.max(0, meta.contentLength()))
                    .setPieceCount(Math.max(0, meta.pieceCount()))
                    .setState(meta.finished() ? "Succeeded" : "Running")
                    .setCreatedAt(timestamp(meta.createdAt()))
                    .setUpdatedAt(timestamp(task.lastAccess()));
            task.pieces().forEach(p -> b.addPieces(piece(p, TrafficType.LOCAL_PEER)));
            return b.build();
        });
    }

    @Override
    public void statLocalTask(StatLocalTaskRequest request, StreamObserver<StatLocalTaskResponse> responses) {
        withSnapshot(request.getTaskId(), responses, DfdaemonDownloadService::localTask);
    }

    @Override
    public void listLocalTasks(ListLocalTasksRequest request, StreamObserver<ListLocalTasksResponse> responses) {
        try {
            ListLocalTasksResponse.Builder b = ListLocalTasksResponse.newBuilder();
            for (String id : storage.taskIds()) {
                try {
                    TaskSnapshot task = tasks.snapshot(id);
                    if (task != null) {
                        b.addTasks(localTask(task));
                    }
                } catch (IOException e) {
                    log.warn("event=task_unreadable task={} error=\"{}\"", id, e.toString());
                }
            }
            responses.onNext(b.build());
            responses.onCompleted();
        } catch (IOException e) {
            responses.onError(GrpcErrors.toStatus(storageError(e)));
        }
    }

    @Override
    public void deleteTask(DeleteTaskRequest request, StreamObserver<Empty> responses) {
        delete(request.getTaskId(), responses);
    }

    @Override
    public void deleteLocalTask(DeleteLocalTaskRequest request, StreamObserver<Empty> responses) {
        delete(request.getTaskId(), responses);
    }

    private void delete(String taskId, StreamObserver<Empty> responses) {
        try {
            requireTaskId(taskId);
            boolean[] existed = {false};
            boolean idle = tasks.whenIdle(taskId, id -> {
                try {
                    existed[0] = storage.exists(id);
                    storage.delete(id);
                    return true;
                } catch (IOException e) {
                    throw new PollenException(ErrorCode.INTERNAL, "deleting task " + id + " failed: " + e, e);
                }
            });
            if (!idle) {
                responses.onError(Status.FAILED_PRECONDITION.withDescription("task " + taskId
                        + " is being downloaded or read; retry when it is done").asRuntimeException());
                return;
            }
            if (!existed[0]) {
                throw new PollenException(ErrorCode.TASK_NOT_FOUND, "task " + taskId + " is not stored on this node");
            }
            log.info("event=task_deleted task={}", taskId);
            responses.onNext(Empty.getDefaultInstance());
            responses.onCompleted();
        } catch (PollenException e) {
            responses.onError(GrpcErrors.toStatus(e));
        }
    }

    private interface TaskView<T> {
        T apply(TaskSnapshot task);
    }

    /** Answers from the task as it stands (see {@link TaskManager#snapshot}): a stat never changes a task. */
    private <T> void withSnapshot(String taskId, StreamObserver<T> responses, TaskView<T> view) {
        try {
            requireTaskId(taskId);
            TaskSnapshot task = tasks.snapshot(taskId);
            if (task == null) {
                throw new PollenException(ErrorCode.TASK_NOT_FOUND, "task " + taskId + " is not stored on this node");
            }
            responses.onNext(view.apply(task));
            responses.onCompleted();
        } catch (PollenException e) {
            responses.onError(GrpcErrors.toStatus(e));
        } catch (IOException e) {
            responses.onError(GrpcErrors.toStatus(storageError(e)));
        }
    }

    private static void requireTaskId(String taskId) {
        if (!Storage.isTaskId(taskId)) {
            throw new PollenException(ErrorCode.INVALID_ARGUMENT, "invalid task id '" + taskId + "' (expected: 64 hex digits)");
        }
    }

    private static StatLocalTaskResponse localTask(TaskSnapshot task) {
        TaskMetadata meta = task.metadata();
        StatLocalTaskResponse.Builder b = StatLocalTaskResponse.newBuilder()
                .setTaskId(meta.taskId())
                .setPieceLength(meta.pieceLength())
                .setCreatedAt(timestamp(meta.createdAt()))
                .setUpdatedAt(timestamp(task.lastAccess()))
                .putAllResponseHeader(flatten(meta.responseHeaders()));
        if (meta.lengthKnown()) {
            b.setContentLength(meta.contentLength());
        }
        if (meta.finished()) {
            b.setFinishedAt(timestamp(task.lastAccess()));
        }
        return b.build();
    }

    static Map<String, String> flatten(Map<String, List<String>> headers) {
        Map<String, String> flat = new java.util.TreeMap<>();
        headers.forEach((k, v) -> flat.put(k, String.join(", ", v)));
        return flat;
    }

    static Piece piece(PieceRecord p, TrafficType traffic) {
        return Piece.newBuilder()
                .setNumber(p.number())
                .setOffset(p.offset())
                .setLength(p.length())
                .setDigest(p.digest())
                .setTrafficType(traffic)
                .build();
    }

    private static Timestamp timestamp(Instant t) {
        return Timestamp.newBuilder().setSeconds(t.getEpochSecond()).setNanos(t.getNano()).build();
    }

    /**
     * Streams the started message, then one message per piece as it lands, as Dragonfly's dfdaemon does
     * (dragonflyoss/client {@code resource/task.rs}, {@code download}): the started message lists every piece
     * the call will report, and each piece carries the parent that served it, its digest, when its download
     * began and what it cost, and with {@code need_piece_content} its bytes.
     */
    private final class Listener implements DownloadListener {
        /** How often a call whose transport is still full is looked at again (see {@link #awaitReady}). */
        private static final long READY_POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(5);

        private final ServerCallStreamObserver<DownloadTaskResponse> call;
        private final String taskId;
        /** This call's own id until the task's registered one is heard. */
        private volatile String peerId;
        private final DownloadRequest.ByteRange range;
        private final boolean needContent;
        private final CompletableFuture<?> cancelled;

        Listener(ServerCallStreamObserver<DownloadTaskResponse> call, String taskId, String peerId, DownloadRequest.ByteRange range,
                 boolean needContent, CompletableFuture<?> cancelled) {
            this.call = call;
            this.taskId = taskId;
            this.peerId = peerId;
            this.range = range;
            this.needContent = needContent;
            this.cancelled = cancelled;
        }

        @Override
        public void registeredAs(String registeredPeerId) {
            peerId = registeredPeerId;
        }

        @Override
        public void started(TaskMetadata meta) {
            DownloadTaskStartedResponse.Builder started = DownloadTaskStartedResponse.newBuilder()
                    .setContentLength(Math.max(0, meta.contentLength()))
                    .putAllResponseHeader(flatten(meta.responseHeaders()))
                    .addAllPieces(InterestedPieces.of(meta, range))
                    .setIsFinished(meta.finished());
            if (range != null) {
                started.setRange(Range.newBuilder().setStart(range.start()).setLength(range.length()));
            }
            send(DownloadTaskResponse.newBuilder().setDownloadTaskStartedResponse(started));
        }

        @Override
        public void pieceReady(ReadyPiece piece) {
            TrafficType traffic = switch (piece.origin()) {
                case BACK_TO_SOURCE -> TrafficType.BACK_TO_SOURCE;
                case REMOTE_PEER -> TrafficType.REMOTE_PEER;
                case LOCAL_PEER -> TrafficType.LOCAL_PEER;
            };
            Piece.Builder p = piece(piece.record(), traffic).toBuilder()
                    .setCreatedAt(timestamp(piece.createdAt()))
                    .setCost(com.google.protobuf.Duration.newBuilder().setSeconds(piece.cost().getSeconds())
                            .setNanos(piece.cost().getNano()));
            if (!piece.parentId().isEmpty()) {
                p.setParentId(piece.parentId());
            }
            if (!needContent) {
                send(DownloadTaskResponse.newBuilder().setDownloadPieceFinishedResponse(
                        DownloadPieceFinishedResponse.newBuilder().setPiece(p)));
                return;
            }
            awaitReady();
            // Held until gRPC has copied the message into its own buffers (onNext serializes it).
            try (PieceContent.Bytes bytes = contents.read(taskId, piece.record())) {
                send(DownloadTaskResponse.newBuilder().setDownloadPieceFinishedResponse(
                        DownloadPieceFinishedResponse.newBuilder().setPiece(p.setContent(bytes.content()))));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CancellationException("interrupted while waiting to read piece " + piece.record().number());
            }
        }

        /**
         * Holds the next piece's bytes back until the transport has sent the last: a piece is up to 64 MiB, and
         * gRPC queues whatever is sent however slowly the caller reads. Polled, because gRPC delivers the
         * call's on-ready event only after this handler returns; a caller that went away or ran out of time
         * ends the download (Dragonfly's dfdaemon aborts it too when a piece with content cannot be sent).
         */
        private void awaitReady() {
            while (!call.isReady()) {
                if (call.isCancelled() || cancelled.isDone()) {
                    throw new CancellationException("the caller went away");
                }
                LockSupport.parkNanos(READY_POLL_NANOS);
            }
        }

        private void send(DownloadTaskResponse.Builder response) {
            if (!call.isCancelled()) {
                call.onNext(response.setHostId(hostId).setTaskId(taskId).setPeerId(peerId).build());
            } else if (needContent) {
                throw new CancellationException("the caller went away");
            }
        }
    }
}
