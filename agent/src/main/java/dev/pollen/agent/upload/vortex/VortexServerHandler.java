package dev.pollen.agent.upload.vortex;

import dev.pollen.agent.vortex.VortexException;
import dev.pollen.agent.vortex.VortexFrame;
import dev.pollen.agent.vortex.VortexWire;
import dev.pollen.agent.storage.PieceRecord;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.vortex.VortexException.Reason;
import dev.pollen.policy.UploadSlots;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.handler.ssl.SslHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.timeout.IdleStateEvent;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One connection's requests, answered strictly in order and one at a time: responses carry no request
 * id, and waiting for each piece's bytes to leave before reading the next request keeps a peer that
 * pipelines without reading from piling file regions into our outbound buffer. Reading pauses while a
 * request is answered; at most {@link #MAX_QUEUED} already-decoded requests wait behind it. Each request
 * takes one of the node's {@link UploadSlots}; one that gets none within {@code slotWait} is answered BUSY, and so is
 * one a request for a piece this node sent fewer times turns out of a full line.
 *
 * <p>This is the edge where a {@link VortexException} becomes an Error frame: a well-framed request the
 * server cannot serve gets one and the connection stays usable; broken framing gets one and a close.
 */
final class VortexServerHandler extends SimpleChannelInboundHandler<VortexFrame> {
    private static final Logger log = LoggerFactory.getLogger(VortexServerHandler.class);
    static final int MAX_QUEUED = 16;

    private final UploadPieces pieces;
    private final Executor lookups;
    private final Clock clock;
    private final VortexServerStats stats;
    private final InFlight inFlight;
    private final UploadSlots slots;
    private final Duration slotWait;
    private final ArrayDeque<VortexFrame> queue = new ArrayDeque<>();
    private boolean busy;
    /** Whether the request being answered holds one of the node's upload slots (touched on the event loop). */
    private boolean holdsSlot;

    VortexServerHandler(UploadPieces pieces, Executor lookups, Clock clock, VortexServerStats stats, InFlight inFlight,
                        UploadSlots slots, Duration slotWait) {
        this.pieces = pieces;
        this.lookups = lookups;
        this.clock = clock;
        this.stats = stats;
        this.inFlight = inFlight;
        this.slots = slots;
        this.slotWait = slotWait;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, VortexFrame frame) {
        if (queue.size() >= MAX_QUEUED) {
            violation(ctx, new VortexException(Reason.TOO_MANY_PIPELINED, "more than " + MAX_QUEUED
                    + " requests sent ahead of their answers"));
            return;
        }
        queue.add(frame);
        ctx.channel().config().setAutoRead(false);
        next(ctx);
    }

    private void next(ChannelHandlerContext ctx) {
        if (busy || !ctx.channel().isActive()) {
            return;
        }
        VortexFrame frame = queue.poll();
        if (frame == null) {
            ctx.channel().config().setAutoRead(true);
            return;
        }
        switch (frame) {
            case VortexFrame.DownloadPiece request -> serve(ctx, request);
            case VortexFrame.Close close -> {
                log.debug("event=vortex_peer_closed peer={}", ctx.channel().remoteAddress());
                queue.clear();
                ctx.close();
            }
            default -> violation(ctx, new VortexException(Reason.UNEXPECTED_FRAME, frame.tag() + " is not a request"));
        }
    }

    private void serve(ChannelHandlerContext ctx, VortexFrame.DownloadPiece request) {
        busy = true;
        inFlight.enter();
        if (!Storage.isTaskId(request.taskId())) {
            refuse(ctx, request, new VortexException(Reason.INVALID_TASK_ID, "invalid task id (expected: 64 lowercase hex digits)"));
            return;
        }
        if (request.number() > Integer.MAX_VALUE) {
            refuse(ctx, request, new VortexException(Reason.INVALID_PIECE_NUMBER, "piece number " + request.number()
                    + " (expected: 0.." + Integer.MAX_VALUE + ")"));
            return;
        }
        // A slot may be granted later, on another connection's thread: the lookup then hops back to this loop
        // (that hop orders the write of holdsSlot before this loop reads it).
        // Ranked by its piece: a piece this node sent fewer times goes first, and may turn this request away from a
        // full line (then it is answered busy at once, on this loop).
        UploadSlots.Request slot = new UploadSlots.Request(child(ctx), request.taskId(), (int) request.number(), () -> {
            holdsSlot = true;
            try {
                lookups.execute(() -> lookup(ctx, request));
            } catch (RejectedExecutionException e) {
                onLoop(ctx, () -> refuse(ctx, request, new VortexException(Reason.INTERNAL, "the server is shutting down")), null);
            }
        }, () -> onLoop(ctx, () -> busy(ctx, request), null));
        switch (slots.acquire(slot)) {
            case GRANTED -> { }
            case FULL -> busy(ctx, request);
            case WAITING -> {
                if (slotWait.isZero()) {
                    withdrawAsBusy(ctx, request, slot);
                } else {
                    ctx.executor().schedule(() -> withdrawAsBusy(ctx, request, slot), slotWait.toNanos(), TimeUnit.NANOSECONDS);
                }
            }
        }
    }

    /** The wait for a slot is over: unless a slot came first, tell the child to ask another parent. */
    private void withdrawAsBusy(ChannelHandlerContext ctx, VortexFrame.DownloadPiece request, UploadSlots.Request slot) {
        if (slots.withdraw(slot)) {
            busy(ctx, request);
        }
    }

    private void busy(ChannelHandlerContext ctx, VortexFrame.DownloadPiece request) {
        stats.busy();
        refuse(ctx, request, new VortexException(Reason.BUSY, "busy: all " + slots.limit()
                + " upload slots in use, try another parent"));
    }

    /** Whom a request is from, for fairness between children: the host, however many connections it opens. */
    private static Object child(ChannelHandlerContext ctx) {
        SocketAddress remote = ctx.channel().remoteAddress();
        return remote instanceof InetSocketAddress inet && inet.getAddress() != null ? inet.getAddress() : remote;
    }

    /** On a lookup thread: find the piece, then hand the answer back to the channel's event loop. */
    private void lookup(ChannelHandlerContext ctx, VortexFrame.DownloadPiece request) {
        PieceLease lease;
        try {
            lease = pieces.lease(request.taskId(), (int) request.number());
        } catch (VortexException e) {
            onLoop(ctx, () -> refuse(ctx, request, e), null);
            return;
        } catch (RuntimeException e) {
            log.warn("event=vortex_lookup_failed task={} piece={}", request.taskId(), request.number(), e);
            onLoop(ctx, () -> refuse(ctx, request, new VortexException(Reason.INTERNAL, "lookup failed: " + e)), null);
            return;
        }
        onLoop(ctx, () -> send(ctx, request, lease), lease);
    }

    private void onLoop(ChannelHandlerContext ctx, Runnable task, PieceLease lease) {
        try {
            ctx.executor().execute(task);
        } catch (RejectedExecutionException e) {
            // The event loop is gone (shutdown): nobody will answer, so give back what was leased.
            if (lease != null) {
                lease.close();
            }
            releaseSlot(ctx);
            inFlight.exit();
        }
    }

    private void send(ChannelHandlerContext ctx, VortexFrame.DownloadPiece request, PieceLease lease) {
        if (!ctx.channel().isActive()) {
            lease.close();
            finish(ctx);
            return;
        }
        PieceRecord piece = lease.piece();
        long size;
        try {
            size = lease.content().size();
        } catch (IOException e) {
            lease.close();
            refuse(ctx, request, new VortexException(Reason.INTERNAL, "cannot read the content of task " + request.taskId()
                    + ": " + e.getMessage(), e));
            return;
        }
        if (piece.offset() + piece.length() > size) {
            // Checked before the header goes out: a short sendfile after it would desynchronise the stream.
            lease.close();
            refuse(ctx, request, new VortexException(Reason.INTERNAL, "piece " + piece.number() + " of task " + request.taskId()
                    + " ends at " + (piece.offset() + piece.length()) + " but its content file has " + size + " bytes"));
            return;
        }
        ctx.write(new VortexFrame.PieceContent(VortexFrame.newId(), piece.number(), piece.offset(), piece.length(),
                piece.digest(), "", VortexWire.TRAFFIC_REMOTE_PEER, Duration.ZERO, clock.instant()));
        ChannelFuture sent;
        try {
            sent = piece.length() == 0 ? ctx.writeAndFlush(Unpooled.EMPTY_BUFFER)
                    : ctx.pipeline().get(SslHandler.class) != null
                    ? ctx.writeAndFlush(new SharedChunkedFile(lease.content(), piece.offset(), piece.length()))
                    : ctx.writeAndFlush(new SharedFileRegion(lease.content(), piece.offset(), piece.length()));
        } catch (IOException e) {
            // The header went out: the stream cannot be resynchronised, so the connection goes.
            lease.close();
            finish(ctx);
            ctx.close();
            return;
        }
        sent.addListener((ChannelFutureListener) f -> {
            lease.close();
            finish(ctx);
            if (f.isSuccess()) {
                stats.served(piece.length());
                pieces.sent(request.taskId(), piece.number());
                log.debug("event=vortex_piece_sent peer={} task={} piece={} bytes={}", f.channel().remoteAddress(),
                        request.taskId(), piece.number(), piece.length());
                next(ctx);
            } else {
                log.debug("event=vortex_send_failed peer={} task={} piece={} cause={}", f.channel().remoteAddress(),
                        request.taskId(), piece.number(), f.cause().toString());
                ctx.close();
            }
        });
    }

    /** Answers a well-framed request with an Error frame; the connection stays usable. */
    private void refuse(ChannelHandlerContext ctx, VortexFrame.DownloadPiece request, VortexException e) {
        stats.refused();
        log.debug("event=vortex_request_refused peer={} task={} piece={} reason={}", ctx.channel().remoteAddress(),
                request.taskId(), request.number(), e.reason());
        ctx.writeAndFlush(VortexFrame.ErrorFrame.of(e.reason().wireCode(), e.getMessage()))
                .addListener((ChannelFutureListener) f -> {
                    finish(ctx);
                    if (f.isSuccess()) {
                        next(ctx);
                    } else {
                        ctx.close();
                    }
                });
    }

    private void finish(ChannelHandlerContext ctx) {
        busy = false;
        releaseSlot(ctx);
        inFlight.exit();
    }

    private void releaseSlot(ChannelHandlerContext ctx) {
        if (holdsSlot) {
            holdsSlot = false;
            slots.release(child(ctx));
        }
    }

    /** The framing is broken: say why once, then close, dropping anything queued behind it. */
    private void violation(ChannelHandlerContext ctx, VortexException e) {
        stats.violation();
        log.debug("event=vortex_protocol_violation peer={} reason={} detail={}", ctx.channel().remoteAddress(), e.reason(),
                e.getMessage());
        queue.clear();
        ctx.channel().config().setAutoRead(false);
        ctx.writeAndFlush(VortexFrame.ErrorFrame.of(e.reason().wireCode(), e.getMessage()))
                .addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        Throwable c = cause instanceof DecoderException && cause.getCause() != null ? cause.getCause() : cause;
        if (c instanceof VortexException v) {
            violation(ctx, v);
        } else if (c instanceof IOException) {
            // Resets and broken pipes are what peers going away look like: expected, not worth a warning.
            log.debug("event=vortex_connection_error peer={} cause={}", ctx.channel().remoteAddress(), c.toString());
            ctx.close();
        } else {
            log.warn("event=vortex_connection_error peer={}", ctx.channel().remoteAddress(), c);
            ctx.close();
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof IdleStateEvent) {
            log.debug("event=vortex_idle_closed peer={}", ctx.channel().remoteAddress());
            ctx.close();
            return;
        }
        super.userEventTriggered(ctx, evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        queue.clear();
        super.channelInactive(ctx);
    }
}
