package dev.pollen.agent.upload;

import dev.pollen.agent.config.DaemonConfig;
import dev.pollen.agent.origin.HostResolver;
import dev.pollen.proto.dfdaemon.v2.DfdaemonUploadGrpc;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Who may call DfdaemonUpload.DownloadTask, which makes this node fetch a URL and serve it back: only
 * this node's schedulers (and the configured extra callers), and on a node that is not a seed peer only
 * when it accepts the scheduler's preheat. Everything else on the upload server stays open to peers.
 * The caller is known by the connection's remote address (mTLS comes later).
 */
public final class DownloadTaskGuard implements ServerInterceptor {
    private static final Logger log = LoggerFactory.getLogger(DownloadTaskGuard.class);
    private static final String DOWNLOAD_TASK = DfdaemonUploadGrpc.getDownloadTaskMethod().getFullMethodName();

    private final boolean seed;
    private final boolean acceptPreheat;
    private final SchedulerAllowList callers;

    public DownloadTaskGuard(boolean seed, boolean acceptPreheat, SchedulerAllowList callers) {
        this.seed = seed;
        this.acceptPreheat = acceptPreheat;
        this.callers = callers;
    }

    /**
     * The guard the daemon's config asks for; the scheduler names are re-resolved on {@code timer} every
     * {@code scheduler.announceInterval}, the beat on which the scheduler client re-resolves them.
     */
    public static DownloadTaskGuard start(DaemonConfig config, ScheduledExecutorService timer) {
        SchedulerAllowList callers = new SchedulerAllowList(config.scheduler().addresses(),
                config.upload().downloadTask().allowedClients(), HostResolver.SYSTEM);
        long every = config.scheduler().announceInterval().toMillis();
        timer.scheduleWithFixedDelay(() -> {
            // A scheduled task that throws is never run again: the allow list would freeze without a word.
            try {
                callers.refresh();
            } catch (RuntimeException e) {
                log.warn("event=scheduler_allow_list_refresh_failed error=\"{}\"", e.toString());
            }
        }, every, every, TimeUnit.MILLISECONDS);
        return new DownloadTaskGuard(config.seedPeer().enable(), config.upload().downloadTask().acceptPreheat(), callers);
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        if (!call.getMethodDescriptor().getFullMethodName().equals(DOWNLOAD_TASK)) {
            return next.startCall(call, headers);
        }
        SocketAddress remote = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
        String refusal = refusal(remote);
        if (refusal == null) {
            return next.startCall(call, headers);
        }
        log.info("event=download_task_refused caller={} reason=\"{}\"", remote, refusal);
        call.close(Status.PERMISSION_DENIED.withDescription(refusal), new Metadata());
        return new ServerCall.Listener<>() {
        };
    }

    /** Why the caller may not have this node download, or null when it may. */
    private String refusal(SocketAddress remote) {
        if (!seed && !acceptPreheat) {
            return "this node is not a seed peer and does not accept preheat requests"
                    + " (fix: upload.downloadTask.acceptPreheat: true on this node, or seedPeer.enable: true)";
        }
        if (!(remote instanceof InetSocketAddress inet) || inet.getAddress() == null) {
            return "caller " + remote + " has no IP address; DownloadTask is served only to this node's schedulers";
        }
        if (!callers.allows(inet.getAddress())) {
            return "caller " + inet.getAddress().getHostAddress() + " is not one of this node's schedulers ("
                    + callers.describe() + "); DownloadTask is served only to them"
                    + " (fix: add the caller's address or network to upload.downloadTask.allowedClients)";
        }
        return null;
    }
}
