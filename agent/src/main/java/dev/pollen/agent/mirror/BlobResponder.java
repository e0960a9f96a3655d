package dev.pollen.agent.mirror;

import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.storage.ContentDigest;
import dev.pollen.agent.storage.TaskMetadata;
import dev.pollen.agent.storage.TaskSnapshot;
import dev.pollen.agent.task.ActiveTask;
import dev.pollen.agent.task.DownloadListener;
import dev.pollen.agent.task.DownloadRequest;
import dev.pollen.agent.task.Downloader;
import dev.pollen.agent.task.PieceOrigin;
import dev.pollen.agent.task.PieceSpan;
import dev.pollen.agent.task.ReadyPiece;
import dev.pollen.agent.task.TaskIds;
import dev.pollen.agent.task.TaskManager;
import dev.pollen.agent.task.TaskSpec;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.LastHttpContent;
import java.io.IOException;
import java.util.BitSet;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A blob through P2P: the task of its digest (shared by every request for that layer, ranges included) is driven by
 * a {@link Downloader} on this request's thread, and the requested bytes go to the client as the contiguous prefix
 * of landed pieces grows. A response that reaches the blob's last byte withholds it until the whole blob has matched
 * its digest ({@link ActiveTask#verified}; not until the task is durable too), so a blob that does not match is never
 * received complete: the connection is cut instead (and the task dropped by the task manager). Pieces from peers are
 * held until that verdict, whatever the range: not one byte of a bad copy reaches the client. Errors the registry
 * answers (401 with its challenge, 403, 404, 5xx) are the registry's to tell: the request is passed through and the
 * client gets them as sent. Before any of it, the registry confirms that this client may read the blob
 * ({@link AccessCheck}).
 */
final class BlobResponder {
    private static final Logger log = LoggerFactory.getLogger(BlobResponder.class);
    private static final String DIGEST_HEADER = "Docker-Content-Digest";
    /** Headers of the client that are not for the blob's origin requests (the task makes its own ranges). */
    private static final Set<String> NOT_FOR_ORIGIN = Set.of("range", "if-range", "accept-encoding", "content-length",
            "x-pollen-source", "x-pollen-reason");

    private final TaskManager tasks;
    private final Downloader downloader;
    private final PassThrough passThrough;
    private final AccessCheck access;

    BlobResponder(TaskManager tasks, Downloader downloader, PassThrough passThrough, AccessCheck access) {
        this.tasks = tasks;
        this.downloader = downloader;
        this.passThrough = passThrough;
        this.access = access;
    }

    /** @return whether the connection may serve another request */
    boolean get(Exchange ex, Route.Blob route) throws IOException {
        ex.route = "p2p";
        ex.upstream = route.upstream().toString();
        // Checked before the task is joined: its bytes may be another client's pull, or a peer's.
        Optional<Boolean> refused = access.refusal(ex, route.upstream(), route.object());
        if (refused.isPresent()) {
            return refused.get();
        }
        TaskSpec spec = TaskSpec.blob(ex.upstream, route.digest(), originHeaders(ex));
        ActiveTask task;
        try {
            task = tasks.acquire(spec, true, ex.out.closed());
        } catch (CancellationException gone) {
            ex.reason = "client_closed";
            return false;
        } catch (PollenException e) {
            if (e.originStatus() >= 300) {
                // The registry's own answer, challenge and body included, is what containerd must see (its token flow).
                return passThrough.forward(ex, route.upstream(), "upstream_status");
            }
            return Responses.error(ex, HttpResponseStatus.BAD_GATEWAY, "p2p_failed", e.getMessage());
        }
        try {
            return serve(ex, route, spec, task);
        } finally {
            tasks.release(task);
        }
    }

    /** HEAD of a blob: this node's verified copy answers; one it lacks (or has not finished) is the registry's to answer. */
    boolean head(Exchange ex, Route.StoredHead route) throws IOException {
        TaskSnapshot stored = tasks.snapshot(TaskIds.blobTaskId(route.digest()));
        if (stored == null || !stored.metadata().finished()) {
            return passThrough.forward(ex, route.upstream(), "not_stored");
        }
        Optional<Boolean> refused = access.refusal(ex, route.upstream(), route.object());
        if (refused.isPresent()) {
            return refused.get();
        }
        ex.route = "local";
        ex.upstream = route.upstream().toString();
        ex.source = "local";
        FullHttpResponse response = new DefaultFullHttpResponse(ex.version, HttpResponseStatus.OK);
        blobHeaders(response, route.digest(), stored.metadata().contentLength(), "local");
        ex.connectionHeaders(response, ex.keepAlive);
        ex.status = 200;
        ex.out.write(response, 0);
        ex.out.drain();
        return ex.keepAlive;
    }

    private boolean serve(Exchange ex, Route.Blob route, TaskSpec spec, ActiveTask task) throws IOException {
        TaskMetadata meta = task.metadata();
        if (!meta.lengthKnown()) {
            return passThrough.forward(ex, route.upstream(), "unknown_length");
        }
        long length = meta.contentLength();
        ByteRanges.Answer range = ByteRanges.parse(ex.headers.get(HttpHeaderNames.RANGE), length);
        if (range instanceof ByteRanges.Unsatisfiable) {
            FullHttpResponse response = new DefaultFullHttpResponse(ex.version, HttpResponseStatus.REQUESTED_RANGE_NOT_SATISFIABLE);
            response.headers().set(HttpHeaderNames.CONTENT_RANGE, ByteRanges.Unsatisfiable.contentRange(length));
            response.headers().set(HttpHeaderNames.CONTENT_LENGTH, 0);
            response.headers().set(Exchange.SOURCE, "local");
            ex.connectionHeaders(response, ex.keepAlive);
            ex.status = 416;
            ex.source = "local";
            ex.out.write(response, 0);
            ex.out.drain();
            return ex.keepAlive;
        }
        long first = range instanceof ByteRanges.Partial p ? p.first() : 0;
        long last = range instanceof ByteRanges.Partial p ? p.last() : length - 1;
        DownloadRequest.ByteRange wanted = new DownloadRequest.ByteRange(first, last - first + 1);
        HttpResponse response = new DefaultHttpResponse(ex.version,
                range instanceof ByteRanges.Partial ? HttpResponseStatus.PARTIAL_CONTENT : HttpResponseStatus.OK);
        blobHeaders(response, route.digest(), last - first + 1, startingSource(task, meta, wanted));
        if (range instanceof ByteRanges.Partial p) {
            response.headers().set(HttpHeaderNames.CONTENT_RANGE, p.contentRange(length));
        }
        ex.connectionHeaders(response, ex.keepAlive);
        ex.status = response.status().code();
        ex.out.write(response, 0);

        boolean toEnd = last == length - 1;
        PrefixCursor cursor = new PrefixCursor(task.store().contentPath().toFile(), meta.pieceLength(), first, last + 1, ex.out);
        // The blob's last byte waits for the verdict on the whole: a client never holds a complete copy of a bad blob.
        long withheld = toEnd ? last : last + 1;
        // A peer's pieces wait for the verdict too. containerd resumes a cut transfer with a Range from where it
        // stopped, and glues what it already has to the rest: a bad copy's bytes handed over in part would make the
        // layer fail its digest in containerd, and the pull with it, even when the rest comes right from elsewhere.
        // The registry's bytes are what containerd would get straight from it, and go out as they land.
        boolean verified = verified(task);
        BitSet held = new BitSet();
        Sources sources = new Sources();
        try {
            if (length > 0) {
                downloader.download(new DownloadRequest(spec, wanted, null, null, false, false, true), new DownloadListener() {
                    @Override
                    public void started(TaskMetadata metadata) {
                    }

                    @Override
                    public void pieceReady(ReadyPiece piece) {
                        sources.add(piece.origin());
                        int number = piece.record().number();
                        if (!verified && piece.origin() != PieceOrigin.BACK_TO_SOURCE) {
                            held.set(number);
                            return;
                        }
                        cursor.landed(number);
                        try {
                            cursor.sendUpTo(withheld);
                        } catch (IOException e) {
                            throw new ClientGone(e);
                        }
                    }
                }, ex.out.closed());
            }
            ex.source = sources.summary();
            if (toEnd || !held.isEmpty()) {
                awaitVerdict(task, spec, first, last, length, ex);
                held.stream().forEach(cursor::landed);
            } else if (task.rejected()) {
                throw new PollenException(dev.pollen.agent.error.ErrorCode.DIGEST_MISMATCH, "blob " + route.digest()
                        + " does not match its digest");
            }
            cursor.sendUpTo(last + 1);
            ex.out.write(LastHttpContent.EMPTY_LAST_CONTENT, 0);
            ex.out.drain();
            return ex.keepAlive;
        } catch (CancellationException | ClientGone gone) {
            ex.reason = "client_closed";
            ex.source = sources.summary();
            return false;
        } catch (PollenException e) {
            ex.reason = e.code() == dev.pollen.agent.error.ErrorCode.DIGEST_MISMATCH ? "digest_mismatch" : "p2p_failed";
            ex.source = sources.summary();
            log.warn("event=mirror_blob_aborted task={} digest={} sent={} of={} reason={} error=\"{}\"", task.id(), route.digest(),
                    cursor.position() - first, last - first + 1, ex.reason, e.getMessage());
            ex.out.abort();
            return false;
        }
    }

    /** Whether the task's content has matched its digest already: then every byte of it may go out at once. */
    private static boolean verified(ActiveTask task) {
        return task.verified().isDone() && !task.verified().isCompletedExceptionally();
    }

    /**
     * Waits for the verdict on the whole blob: the pieces outside bytes {@code first..last} are fetched (or joined) first,
     * since the digest covers them all. Not for the task to be made durable: the client needs right bytes, not stored
     * ones, and that fsync can take seconds on a real disk (the node counts the task as stored only once it is done).
     */
    private void awaitVerdict(ActiveTask task, TaskSpec spec, long first, long last, long length, Exchange ex) throws IOException {
        if (!task.verified().isDone()) {
            if (first > 0) {
                downloader.download(new DownloadRequest(spec, new DownloadRequest.ByteRange(0, first), null, null, false, false,
                        true), Sources.IGNORED, ex.out.closed());
            }
            if (last < length - 1) {
                downloader.download(new DownloadRequest(spec, new DownloadRequest.ByteRange(last + 1, length - 1 - last), null,
                        null, false, false, true), Sources.IGNORED, ex.out.closed());
            }
        }
        try {
            CompletableFuture.anyOf(task.verified(), ex.out.closed()).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CancellationException("interrupted");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof PollenException p) {
                throw p;
            }
            throw new PollenException(dev.pollen.agent.error.ErrorCode.INTERNAL, "task " + task.id() + " could not be checked: "
                    + e.getCause(), e.getCause());
        }
        if (!task.verified().isDone()) {
            throw new CancellationException("the client went away");
        }
    }

    /**
     * Where the response's bytes come from, as known when it starts: all stored already, parents serving the task, or
     * the origin. The log line tells what they did come from.
     */
    private static String startingSource(ActiveTask task, TaskMetadata meta, DownloadRequest.ByteRange range) {
        PieceSpan span = PieceSpan.of(meta, range);
        boolean stored = true;
        for (int n = span.first(); n <= span.last() && stored; n++) {
            stored = task.store().piece(n) != null;
        }
        return stored ? "local" : task.followsParents() ? "peer" : "origin";
    }

    private static void blobHeaders(HttpResponse response, ContentDigest digest, long contentLength, String source) {
        response.headers().set(HttpHeaderNames.CONTENT_LENGTH, contentLength);
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/octet-stream");
        response.headers().set(DIGEST_HEADER, digest.toString());
        response.headers().set(HttpHeaderNames.ACCEPT_RANGES, "bytes");
        response.headers().set(Exchange.SOURCE, source);
    }

    /** The client's headers for the blob's origin requests (credentials included: the task forwards them as it may). */
    private static Map<String, String> originHeaders(Exchange ex) {
        Map<String, String> headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        for (Map.Entry<String, String> h : ex.forwardedHeaders()) {
            if (!NOT_FOR_ORIGIN.contains(h.getKey().toLowerCase(Locale.ROOT))) {
                headers.merge(h.getKey(), h.getValue(), (a, b) -> a + ", " + b);
            }
        }
        return headers;
    }

    /** Where the pieces of a response came from: any from a parent is "peer", else any from the origin is "origin". */
    private static final class Sources implements DownloadListener {
        static final DownloadListener IGNORED = new Sources();
        private boolean peer;
        private boolean origin;

        void add(PieceOrigin from) {
            peer |= from == PieceOrigin.REMOTE_PEER;
            origin |= from == PieceOrigin.BACK_TO_SOURCE;
        }

        String summary() {
            return peer ? "peer" : origin ? "origin" : "local";
        }

        @Override
        public void started(TaskMetadata metadata) {
        }

        @Override
        public void pieceReady(ReadyPiece piece) {
        }
    }

    /** The client stopped reading or went away while its bytes were being sent. */
    private static final class ClientGone extends RuntimeException {
        ClientGone(IOException cause) {
            super(cause.getMessage(), cause, false, false);
        }
    }
}
