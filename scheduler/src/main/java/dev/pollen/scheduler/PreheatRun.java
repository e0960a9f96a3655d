package dev.pollen.scheduler;

import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskResponse;
import dev.pollen.proto.pollen.scheduler.v1.DownloadFailed;
import dev.pollen.proto.pollen.scheduler.v1.DownloadFinished;
import dev.pollen.proto.pollen.scheduler.v1.DownloadPieces;
import dev.pollen.proto.pollen.scheduler.v1.DownloadStarted;
import dev.pollen.proto.pollen.scheduler.v1.PreheatProgress;
import dev.pollen.proto.pollen.scheduler.v1.PreheatTarget;
import dev.pollen.proto.pollen.scheduler.v1.TargetsChosen;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.Semaphore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One preheat: every download on every target, at most {@code concurrency} DownloadTask calls at once.
 * A download goes to the seed peers among the targets first and to the other targets only once the seeds
 * have it (or failed), so those fetch it from the seeds and the registry sends it once. Each download on
 * each target runs on a thread of its own from {@code executor} (virtual threads), which waits for a slot and
 * then for the call.
 */
final class PreheatRun {
    private static final Logger log = LoggerFactory.getLogger(PreheatRun.class);
    private static final int FAILURES_NAMED = 5;

    private record Failure(int download, int target, String reason) {
    }

    private final DownloadTasks calls;
    private final Executor executor;
    private final List<Download> downloads;
    private final List<Host> targets;
    private final int knownHosts;
    private final Semaphore slots;
    private final Duration timeout;
    private final ServerCallStreamObserver<PreheatProgress> responses;
    private final CountDownLatch[] seedsDone;
    private final CountDownLatch allDone;
    private final List<Failure> failures = new ArrayList<>();
    private final Object sending = new Object();
    private volatile boolean cancelled;

    /** Built in the RPC handler: a cancel handler may only be set there. */
    PreheatRun(DownloadTasks calls, Executor executor, List<Download> downloads, List<Host> targets, int knownHosts, int concurrency,
               Duration timeout, ServerCallStreamObserver<PreheatProgress> responses) {
        this.calls = calls;
        this.executor = executor;
        this.downloads = List.copyOf(downloads);
        this.targets = List.copyOf(targets);
        this.knownHosts = knownHosts;
        this.slots = new Semaphore(concurrency);
        this.timeout = timeout;
        this.responses = responses;
        int seeds = (int) targets.stream().filter(PreheatTargets::seed).count();
        this.seedsDone = new CountDownLatch[downloads.size()];
        for (int i = 0; i < seedsDone.length; i++) {
            seedsDone[i] = new CountDownLatch(seeds);
        }
        this.allDone = new CountDownLatch(downloads.size() * targets.size());
        responses.setOnCancelHandler(() -> {
            cancelled = true;
            log.info("event=preheat_cancelled reason=caller_went_away");
        });
    }

    void run() {
        long started = System.nanoTime();
        log.info("event=preheat_started downloads={} targets={} concurrency={} timeout={}", downloads.size(), targets.size(),
                slots.availablePermits(), timeout);
        TargetsChosen.Builder chosen = TargetsChosen.newBuilder().setKnownHosts(knownHosts);
        for (Host t : targets) {
            chosen.addTargets(PreheatTarget.newBuilder().setHostId(t.getId()).setHostname(t.getHostname()).setIp(t.getIp())
                    .setPort(t.getPort()).setSeed(PreheatTargets.seed(t)));
        }
        send(PreheatProgress.newBuilder().setTargetsChosen(chosen).build());
        for (int d = 0; d < downloads.size(); d++) {
            for (int t = 0; t < targets.size(); t++) {
                int download = d;
                int target = t;
                executor.execute(() -> fetch(download, target));
            }
        }
        try {
            allDone.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        finish(Duration.ofNanos(System.nanoTime() - started));
    }

    private void fetch(int download, int target) {
        Host host = targets.get(target);
        boolean seed = PreheatTargets.seed(host);
        try {
            if (!seed) {
                seedsDone[download].await();
            }
            slots.acquire();
            try {
                if (cancelled) {
                    fail(download, target, "the preheat was cancelled");
                    return;
                }
                CompletableFuture<Void> done = new CompletableFuture<>();
                calls.downloadTask(host, downloads.get(download), timeout, new Progress(download, target, done));
                done.join();
            } finally {
                slots.release();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fail(download, target, "interrupted");
        } catch (RuntimeException e) {
            fail(download, target, "cannot call DownloadTask: " + e);
        } finally {
            if (seed) {
                seedsDone[download].countDown();
            }
            allDone.countDown();
        }
    }

    /** One target's DownloadTask stream for one download, forwarded as progress. */
    private final class Progress implements StreamObserver<DownloadTaskResponse> {
        private final int download;
        private final int target;
        private final CompletableFuture<Void> done;
        private final long started = System.nanoTime();
        private int pieces;
        private long bytes;

        Progress(int download, int target, CompletableFuture<Void> done) {
            this.download = download;
            this.target = target;
            this.done = done;
        }

        @Override
        public void onNext(DownloadTaskResponse r) {
            String hostId = targets.get(target).getId();
            if (r.hasDownloadTaskStartedResponse()) {
                var s = r.getDownloadTaskStartedResponse();
                send(PreheatProgress.newBuilder().setDownloadStarted(DownloadStarted.newBuilder().setHostId(hostId)
                        .setDownload(download).setTaskId(r.getTaskId()).setContentLength(s.getContentLength())
                        .setPieceCount(s.getPiecesCount()).setAlreadyPresent(s.getIsFinished())).build());
            } else if (r.hasDownloadPieceFinishedResponse()) {
                pieces++;
                bytes += r.getDownloadPieceFinishedResponse().getPiece().getLength();
                send(PreheatProgress.newBuilder().setDownloadPieces(DownloadPieces.newBuilder().setHostId(hostId)
                        .setDownload(download).setPiecesDone(pieces).setBytesDone(bytes)).build());
            }
        }

        @Override
        public void onError(Throwable t) {
            Status s = Status.fromThrowable(t);
            String reason = s.getCode() == Status.Code.DEADLINE_EXCEEDED
                    ? "not finished within " + timeout + " (DEADLINE_EXCEEDED)"
                    : s.getCode() + (s.getDescription() == null ? "" : ": " + s.getDescription());
            fail(download, target, reason);
            done.complete(null);
        }

        @Override
        public void onCompleted() {
            Host host = targets.get(target);
            log.info("event=preheat_download_finished host={} ip={} url={} bytes={} took_ms={}", host.getId(), host.getIp(),
                    downloads.get(download).getUrl(), bytes, (System.nanoTime() - started) / 1_000_000);
            send(PreheatProgress.newBuilder().setDownloadFinished(DownloadFinished.newBuilder().setHostId(host.getId())
                    .setDownload(download).setBytesDone(bytes)).build());
            done.complete(null);
        }
    }

    private void fail(int download, int target, String reason) {
        Host host = targets.get(target);
        log.warn("event=preheat_download_failed host={} ip={}:{} url={} reason=\"{}\"", host.getId(), host.getIp(), host.getPort(),
                downloads.get(download).getUrl(), reason);
        synchronized (failures) {
            failures.add(new Failure(download, target, reason));
        }
        send(PreheatProgress.newBuilder().setDownloadFailed(DownloadFailed.newBuilder().setHostId(host.getId())
                .setDownload(download).setReason(reason)).build());
    }

    private void send(PreheatProgress progress) {
        synchronized (sending) {
            if (cancelled) {
                return;
            }
            try {
                responses.onNext(progress);
            } catch (RuntimeException e) {
                // The call ended under us (the caller cancelled): the cancel handler stops the rest.
                log.debug("event=preheat_send_failed error=\"{}\"", e.toString());
            }
        }
    }

    private void finish(Duration took) {
        List<Failure> failed;
        synchronized (failures) {
            failed = failures.stream().sorted(Comparator.comparingInt(Failure::download).thenComparingInt(Failure::target)).toList();
        }
        int total = downloads.size() * targets.size();
        log.info("event=preheat_finished downloads={} targets={} succeeded={} failed={} cancelled={} took_ms={}", downloads.size(),
                targets.size(), total - failed.size(), failed.size(), cancelled, took.toMillis());
        synchronized (sending) {
            if (cancelled) {
                return;
            }
            try {
                if (failed.isEmpty()) {
                    responses.onCompleted();
                } else {
                    responses.onError(Status.ABORTED.withDescription(describe(failed, total)).asRuntimeException());
                }
            } catch (RuntimeException e) {
                log.debug("event=preheat_send_failed error=\"{}\"", e.toString());
            }
        }
    }

    private String describe(List<Failure> failed, int total) {
        StringBuilder b = new StringBuilder().append(failed.size()).append(" of ").append(total).append(" downloads failed: ");
        for (int i = 0; i < Math.min(FAILURES_NAMED, failed.size()); i++) {
            Failure f = failed.get(i);
            Host h = targets.get(f.target());
            b.append(i == 0 ? "" : "; ").append(downloads.get(f.download()).getUrl()).append(" on ").append(h.getHostname())
                    .append(" (").append(h.getIp()).append(':').append(h.getPort()).append("): ").append(f.reason());
        }
        if (failed.size() > FAILURES_NAMED) {
            b.append("; and ").append(failed.size() - FAILURES_NAMED).append(" more");
        }
        return b.toString();
    }
}
