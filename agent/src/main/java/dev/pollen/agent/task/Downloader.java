package dev.pollen.agent.task;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.storage.OutputWriter;
import dev.pollen.agent.storage.TaskMetadata;
import java.io.IOException;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs one caller's download against the shared task: asks for the pieces the caller needs, reports
 * each as it lands, verifies the digest and places the output. Several callers of one task each run
 * their own Downloader flow; the task makes sure each piece is fetched once.
 */
public final class Downloader {
    private static final Logger log = LoggerFactory.getLogger(Downloader.class);

    private final TaskManager tasks;

    public Downloader(TaskManager tasks) {
        this.tasks = tasks;
    }

    /**
     * @param cancelled completes when the caller goes away or its deadline passes
     * @return the task's metadata once the download is complete
     */
    public TaskMetadata download(DownloadRequest request, DownloadListener listener, CompletableFuture<?> cancelled)
            throws IOException {
        long began = System.nanoTime();
        boolean success = false;
        try {
            TaskMetadata meta = run(request, listener, cancelled);
            success = true;
            return meta;
        } finally {
            tasks.metrics().downloadEnded(success, System.nanoTime() - began);
        }
    }

    private TaskMetadata run(DownloadRequest request, DownloadListener listener, CompletableFuture<?> cancelled)
            throws IOException {
        if (request.output() != null) {
            OutputWriter.checkWritable(request.output(), request.overwrite());
        }
        ActiveTask task = tasks.acquire(request.spec(), request.backToSourceAllowed(), cancelled);
        boolean noSpace = false;
        try {
            TaskMetadata meta = task.metadata();
            String peerId = task.peerId();
            if (peerId != null) {
                listener.registeredAs(peerId);
            }
            listener.started(meta);
            if (meta.lengthKnown()) {
                awaitKnown(task, meta, request, listener, cancelled);
            } else {
                awaitStreamed(task, request, listener, cancelled);
            }
            meta = task.metadata();
            long start = request.range() == null ? 0 : Math.min(request.range().start(), meta.contentLength());
            long length = request.range() == null ? meta.contentLength()
                    : Math.min(request.range().length(), meta.contentLength() - start);
            if (request.digest() != null) {
                String actual = OutputWriter.digestOf(task.store(), start, length, request.digest());
                if (!actual.equals(request.digest().expected())) {
                    throw new PollenException(ErrorCode.DIGEST_MISMATCH, "digest mismatch for " + request.spec().url()
                            + ": expected " + request.digest() + ", got " + request.digest().algorithm() + ":" + actual);
                }
            }
            if (request.output() != null) {
                boolean linked = OutputWriter.write(task.store(), start, length, request.output(), request.overwrite(),
                        request.forceHardLink());
                log.info("event=output_written task={} path={} bytes={} hard_link={}", task.id(), request.output(), length, linked);
            }
            return meta;
        } catch (PollenException e) {
            if (e.code() == ErrorCode.NO_SPACE) {
                noSpace = true;
            }
            throw e;
        } finally {
            tasks.release(task);
            if (noSpace) {
                tasks.discardWhenSettled(task);
            }
        }
    }

    private void awaitKnown(ActiveTask task, TaskMetadata meta, DownloadRequest request, DownloadListener listener,
                            CompletableFuture<?> cancelled) {
        PieceSpan span = PieceSpan.of(meta, request.range());
        int first = span.first();
        int last = span.last();
        // A window of pieces asked for at a time, the next asked as earlier ones land: what a caller holds
        // stays the same however many pieces the task has. Which piece comes next is the task's choice (from
        // parents: rarest first); the output is placed at the end and pieces are reported in any order.
        int window = tasks.pieceWindow();
        List<CompletableFuture<ReadyPiece>> pending = new ArrayList<>(window);
        BitSet unasked = new BitSet();
        if (last >= first) {
            unasked.set(first, last + 1);
        }
        while (!unasked.isEmpty() || !pending.isEmpty()) {
            while (!unasked.isEmpty() && pending.size() < window) {
                int next = task.nextPiece(unasked);
                unasked.clear(next);
                pending.add(task.piece(next, request.backToSourceAllowed()));
            }
            CompletableFuture<Object> any = CompletableFuture.anyOf(pending.toArray(CompletableFuture[]::new));
            await(CompletableFuture.anyOf(any, cancelled), cancelled);
            for (var it = pending.iterator(); it.hasNext(); ) {
                CompletableFuture<ReadyPiece> f = it.next();
                if (f.isDone()) {
                    it.remove();
                    delivered(listener, resultOf(f));
                }
            }
        }
    }

    private void awaitStreamed(ActiveTask task, DownloadRequest request, DownloadListener listener, CompletableFuture<?> cancelled) {
        for (int n = 0; ; n++) {
            CompletableFuture<ReadyPiece> piece = task.piece(n, request.backToSourceAllowed());
            try {
                await(CompletableFuture.anyOf(piece, cancelled), cancelled);
                delivered(listener, resultOf(piece));
            } catch (NoSuchPieceException end) {
                return;
            }
        }
    }

    /** The caller hears of a piece, and the piece's bytes count as downloaded from where it came from. */
    private void delivered(DownloadListener listener, ReadyPiece piece) {
        tasks.metrics().downloaded(piece.origin().label(), piece.record().length());
        listener.pieceReady(piece);
    }

    private static void await(CompletableFuture<?> future, CompletableFuture<?> cancelled) {
        try {
            future.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new PollenException(ErrorCode.INTERNAL, "interrupted", e);
        } catch (ExecutionException | CompletionException e) {
            throw rethrow(e.getCause());
        }
        if (cancelled.isDone()) {
            throw new CancellationException("the caller went away");
        }
    }

    private static ReadyPiece resultOf(CompletableFuture<ReadyPiece> done) {
        try {
            return done.join();
        } catch (CompletionException e) {
            throw rethrow(e.getCause());
        }
    }

    private static RuntimeException rethrow(Throwable cause) {
        if (cause instanceof RuntimeException r) {
            return r;
        }
        return new PollenException(ErrorCode.INTERNAL, String.valueOf(cause), cause);
    }
}
