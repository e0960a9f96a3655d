package dev.pollen.agent.mirror;

import dev.pollen.agent.metrics.AgentMetrics;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.net.SocketException;
import java.nio.channels.ClosedChannelException;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection: one request at a time (reading stops while a response is produced, so pipelined requests
 * wait their turn; only the request's own body is read meanwhile, as its thread takes it: {@link RequestBody}), each
 * handled on a virtual thread of its own, never on the event loop. A connection that takes longer than
 * {@code idleTimeout} to deliver a request's headers, between responses or from its start, is closed, and so is one
 * whose body stalls that long: a client that trickles bytes holds no thread and no connection for long.
 */
final class MirrorHandler extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(MirrorHandler.class);

    private final Router router;
    private final BlobResponder blobs;
    private final ManifestResponder manifests;
    private final PassThrough passThrough;
    private final ExecutorService requests;
    private final Duration idleTimeout;
    private final AgentMetrics metrics;
    private ScheduledFuture<?> idle;
    /** The body of the request being answered (event loop only). */
    private RequestBody body;

    MirrorHandler(Router router, BlobResponder blobs, ManifestResponder manifests, PassThrough passThrough, ExecutorService requests,
                  Duration idleTimeout, AgentMetrics metrics) {
        this.metrics = metrics;
        this.router = router;
        this.blobs = blobs;
        this.manifests = manifests;
        this.passThrough = passThrough;
        this.requests = requests;
        this.idleTimeout = idleTimeout;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        armIdle(ctx);
        ctx.fireChannelActive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            if (msg instanceof HttpRequest request) {
                start(ctx, request);
            }
            if (msg instanceof HttpContent content && body != null) {
                body.offer(content);
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (body != null) {
            body.readComplete();
        }
        ctx.fireChannelReadComplete();
    }

    private void start(ChannelHandlerContext ctx, HttpRequest request) {
        ctx.channel().config().setAutoRead(false);
        if (idle != null) {
            idle.cancel(false);
        }
        Throwable invalid = request.decoderResult().isFailure() ? request.decoderResult().cause() : null;
        long length = invalid != null ? 0 : HttpUtil.isTransferEncodingChunked(request) ? -1 : HttpUtil.getContentLength(request, 0L);
        body = new RequestBody(ctx, idleTimeout, length);
        Exchange ex = new Exchange(request, body, new ChannelOutput(ctx.channel(), idleTimeout));
        try {
            requests.execute(() -> handle(ctx, ex, invalid));
        } catch (RejectedExecutionException stopping) {
            ctx.close();
        }
    }

    private void handle(ChannelHandlerContext ctx, Exchange ex, Throwable invalid) {
        boolean keep = false;
        try {
            keep = respond(ex, invalid);
        } catch (IOException | RuntimeException e) {
            if (!(e instanceof ClosedChannelException || e instanceof SocketException)) {
                log.warn("event=mirror_request_failed method={} upstream={} error=\"{}\"", ex.method, ex.upstream, e.toString());
            }
            if (ex.reason.equals("-")) {
                ex.reason = "aborted";
            }
            // Whatever was sent stays truncated: the client must not take a partial body for a whole one.
            ex.out.abort();
        } finally {
            ex.logged();
            metrics.proxyRequest(ex.route.equals("-") ? "none" : ex.route, ex.status);
        }
        // A body the answer did not wait for (the registry refused a push early, say) is still on its way: the
        // connection cannot carry a next request before it, so it is closed rather than read to its end.
        keep &= ex.body.complete();
        ex.body.close();
        if (keep && ctx.channel().isActive()) {
            ctx.channel().eventLoop().execute(() -> {
                armIdle(ctx);
                ctx.channel().config().setAutoRead(true);
                ctx.read();
            });
        } else {
            ex.out.closeAfterWrites();
        }
    }

    private boolean respond(Exchange ex, Throwable invalid) throws IOException {
        if (invalid != null) {
            ex.reason = "bad_request";
            HttpResponseStatus status = invalid instanceof TooLongHttpHeaderException ? HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
                    : invalid instanceof TooLongHttpLineException ? HttpResponseStatus.REQUEST_URI_TOO_LONG
                    : HttpResponseStatus.BAD_REQUEST;
            Responses.error(ex, status, "bad_request", "malformed request: " + invalid.getMessage());
            return false;
        }
        if (ex.method.equals(HttpMethod.CONNECT.name())) {
            return Responses.error(ex, HttpResponseStatus.METHOD_NOT_ALLOWED, "connect_unsupported",
                    "CONNECT tunnels are not supported by this proxy (fix: ask for http:// urls, or use it as a registry mirror)");
        }
        Route route;
        try {
            route = router.route(ex.method, ex.target, ex.headers.get(Registries.REGISTRY_HEADER));
        } catch (IllegalArgumentException e) {
            return Responses.error(ex, HttpResponseStatus.BAD_REQUEST, "bad_request", e.getMessage());
        }
        return switch (route) {
            case Route.Blob blob -> blobs.get(ex, blob);
            case Route.StoredHead head -> blobs.head(ex, head);
            case Route.Manifest manifest -> manifests.respond(ex, manifest);
            case Route.PassThrough pass -> passThrough.forward(ex, pass.upstream(), pass.reason());
        };
    }

    private void armIdle(ChannelHandlerContext ctx) {
        idle = ctx.executor().schedule(() -> {
            log.debug("event=mirror_connection_idle remote={} timeout={}", ctx.channel().remoteAddress(), idleTimeout);
            ctx.close();
        }, idleTimeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (idle != null) {
            idle.cancel(false);
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // A reset by the client is its way of leaving; anything else is logged once, and the connection goes either way.
        if (!(cause instanceof IOException)) {
            log.warn("event=mirror_connection_failed remote={} error=\"{}\"", ctx.channel().remoteAddress(), cause.toString());
        }
        ctx.close();
    }
}
