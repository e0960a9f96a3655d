package dev.pollen.scheduler;

import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.pollen.scheduler.v1.PreheatGrpc;
import dev.pollen.proto.pollen.scheduler.v1.PreheatProgress;
import dev.pollen.proto.pollen.scheduler.v1.PreheatRequest;
import dev.pollen.proto.pollen.scheduler.v1.PreheatScope;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code pollen.scheduler.v1.Preheat}: has the chosen hosts fetch each of the request's downloads through
 * their DfdaemonUpload.DownloadTask (the call seed triggers make), a bounded number at once, and streams
 * their progress. The handler only checks the request and picks the targets; the run itself
 * ({@link PreheatRun}) waits on its own virtual threads, never on the event loop.
 */
final class PreheatService extends PreheatGrpc.PreheatImplBase {
    private static final Logger log = LoggerFactory.getLogger(PreheatService.class);

    static final int MAX_DOWNLOADS = 10_000;
    static final int MAX_COUNT = 100_000;
    static final int DEFAULT_CONCURRENCY = 8;
    static final int MAX_CONCURRENCY = 256;
    static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(30);
    static final Duration MAX_TIMEOUT = Duration.ofDays(1);

    private final Cluster cluster;
    private final DownloadTasks calls;
    private final Executor executor;

    /** @param executor runs each preheat and each of its downloads on a thread of its own (virtual threads) */
    PreheatService(Cluster cluster, DownloadTasks calls, Executor executor) {
        this.cluster = cluster;
        this.calls = calls;
        this.executor = executor;
    }

    @Override
    public void preheatImage(PreheatRequest request, StreamObserver<PreheatProgress> responses) {
        Duration timeout;
        try {
            timeout = check(request);
        } catch (IllegalArgumentException e) {
            log.warn("event=preheat_refused reason=\"{}\"", e.getMessage());
            responses.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
            return;
        }
        List<Host> known = cluster.hosts();
        List<Host> targets = PreheatTargets.choose(known, scope(request), request.getCount());
        if (targets.isEmpty()) {
            String what = scope(request) == PreheatScope.SEED_PEERS ? "no seed peer" : "no host";
            String message = what + " has announced itself to this scheduler (" + known.size() + " hosts known)";
            log.warn("event=preheat_refused reason=\"{}\"", message);
            responses.onError(Status.FAILED_PRECONDITION.withDescription(message).asRuntimeException());
            return;
        }
        int concurrency = request.getConcurrency() == 0 ? DEFAULT_CONCURRENCY : request.getConcurrency();
        PreheatRun run = new PreheatRun(calls, executor, downloads(request, timeout), targets, known.size(), concurrency, timeout,
                (ServerCallStreamObserver<PreheatProgress>) responses);
        executor.execute(run::run);
    }

    private static PreheatScope scope(PreheatRequest request) {
        return request.getScope() == PreheatScope.PREHEAT_SCOPE_UNSPECIFIED ? PreheatScope.SEED_PEERS : request.getScope();
    }

    /** The request's downloads as the targets get them: stored only (no output path, no range), with the per-download timeout. */
    private static List<Download> downloads(PreheatRequest request, Duration timeout) {
        return request.getDownloadsList().stream()
                .map(d -> d.toBuilder().clearOutputPath().clearRange().setNeedBackToSource(false)
                        .setTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(timeout.getSeconds()).setNanos(timeout.getNano()))
                        .build())
                .toList();
    }

    /** The request's limits; returns the per-download timeout. */
    static Duration check(PreheatRequest request) {
        int n = request.getDownloadsCount();
        if (n == 0) {
            throw new IllegalArgumentException("downloads: none (expected: 1.." + MAX_DOWNLOADS + ")");
        }
        if (n > MAX_DOWNLOADS) {
            throw new IllegalArgumentException("downloads: " + n + " (expected: 1.." + MAX_DOWNLOADS + ")");
        }
        for (int i = 0; i < n; i++) {
            String url = request.getDownloads(i).getUrl();
            try {
                URI uri = new URI(url);
                if (!("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) || uri.getHost() == null) {
                    throw new IllegalArgumentException("downloads[" + i + "].url: " + url + " (expected: an http or https URL)");
                }
            } catch (URISyntaxException e) {
                throw new IllegalArgumentException("downloads[" + i + "].url: " + url + " (expected: an http or https URL)");
            }
        }
        switch (request.getScope()) {
            case PREHEAT_SCOPE_UNSPECIFIED, SEED_PEERS, ALL_PEERS -> {
                if (request.getCount() != 0) {
                    throw new IllegalArgumentException("count: " + request.getCount() + " (expected: 0 unless scope is COUNT)");
                }
            }
            case COUNT -> {
                if (request.getCount() < 1 || request.getCount() > MAX_COUNT) {
                    throw new IllegalArgumentException("count: " + Integer.toUnsignedString(request.getCount())
                            + " (expected: 1.." + MAX_COUNT + ")");
                }
            }
            default -> throw new IllegalArgumentException("scope: " + request.getScopeValue()
                    + " (expected: SEED_PEERS, ALL_PEERS or COUNT)");
        }
        if (request.getConcurrency() < 0 || request.getConcurrency() > MAX_CONCURRENCY) {
            throw new IllegalArgumentException("concurrency: " + Integer.toUnsignedString(request.getConcurrency())
                    + " (expected: 0 for the default, or 1.." + MAX_CONCURRENCY + ")");
        }
        if (!request.hasTimeout()) {
            return DEFAULT_TIMEOUT;
        }
        Duration timeout = Duration.ofSeconds(request.getTimeout().getSeconds(), request.getTimeout().getNanos());
        if (timeout.isNegative() || timeout.isZero() || timeout.compareTo(MAX_TIMEOUT) > 0) {
            throw new IllegalArgumentException("timeout: " + timeout + " (expected: more than 0, at most " + MAX_TIMEOUT + ")");
        }
        return timeout;
    }
}
