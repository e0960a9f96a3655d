package dev.pollen.agent.peer;

import dev.pollen.agent.vortex.ContentSlice;
import dev.pollen.agent.vortex.VortexDecoder;
import dev.pollen.agent.vortex.VortexException;
import dev.pollen.agent.vortex.VortexException.Reason;
import dev.pollen.agent.vortex.VortexFrame;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client end of one connection to a parent: at most one {@link PieceFetch} at a time, fed from the
 * decoder's frames and slices. Anything the parent sends that breaks the exchange fails the fetch and
 * closes the connection; an Error frame fails only the fetch, since the framing is still intact.
 * All state is touched on the event loop only.
 */
final class VortexClientHandler extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(VortexClientHandler.class);

    private final VortexDecoder decoder;
    private ChannelHandlerContext ctx;
    private PieceFetch current;

    VortexClientHandler(VortexDecoder decoder) {
        this.decoder = decoder;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    /** Sends the fetch's request; must run on the channel's event loop. */
    void start(PieceFetch fetch) {
        if (current != null) {
            fetch.fail(new IllegalStateException("connection to " + ctx.channel().remoteAddress() + " is busy"));
            return;
        }
        if (!ctx.channel().isActive()) {
            fetch.fail(new VortexException(Reason.CONNECTION_CLOSED, "connection to " + ctx.channel().remoteAddress()
                    + " closed before the request was sent"));
            return;
        }
        current = fetch;
        decoder.expectContent(fetch.maxContent());
        ctx.writeAndFlush(fetch.request()).addListener((ChannelFutureListener) f -> {
            if (!f.isSuccess()) {
                fail(new VortexException(Reason.CONNECTION_CLOSED, "cannot send the request to " + f.channel().remoteAddress()
                        + ": " + f.cause().getMessage(), f.cause()));
                f.channel().close();
            }
        });
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        PieceFetch fetch = current;
        try {
            if (msg instanceof VortexFrame.Close) {
                fail(new VortexException(Reason.CONNECTION_CLOSED, "parent " + ctx.channel().remoteAddress()
                        + " closed the connection" + progress(fetch)));
                ctx.close();
                return;
            }
            if (fetch == null) {
                throw new VortexException(Reason.UNEXPECTED_FRAME, "parent " + ctx.channel().remoteAddress() + " sent " + msg
                        + " with no request outstanding");
            }
            switch (msg) {
                case VortexFrame.PieceContent metadata -> fetch.onMetadata(metadata);
                case ContentSlice slice -> {
                    fetch.onSlice(slice);
                    if (slice.last()) {
                        current = null;
                    }
                }
                case VortexFrame.ErrorFrame error -> {
                    current = null;
                    fetch.onError(error);
                }
                default -> throw new VortexException(Reason.UNEXPECTED_FRAME, "unexpected " + msg);
            }
        } catch (VortexException e) {
            fail(e);
            ctx.close();
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        Throwable c = cause instanceof DecoderException && cause.getCause() != null ? cause.getCause() : cause;
        if (!(c instanceof VortexException)) {
            c = c instanceof IOException
                    ? new VortexException(Reason.CONNECTION_CLOSED, "connection to " + ctx.channel().remoteAddress() + " failed: "
                            + c.getMessage() + progress(current), c)
                    : c;
        }
        if (current == null) {
            log.debug("event=vortex_connection_error parent={} cause={}", ctx.channel().remoteAddress(), c.toString());
        }
        fail(c);
        ctx.close();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        fail(new VortexException(Reason.CONNECTION_CLOSED, "parent " + ctx.channel().remoteAddress() + " closed the connection"
                + progress(current)));
        super.channelInactive(ctx);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof IdleStateEvent) {
            // Only an unused pooled connection is closed for idleness; a stalled fetch ends by its own timeout.
            if (current == null) {
                ctx.close();
            }
            return;
        }
        super.userEventTriggered(ctx, evt);
    }

    private void fail(Throwable cause) {
        PieceFetch fetch = current;
        current = null;
        if (fetch != null) {
            fetch.fail(cause);
        }
    }

    private static String progress(PieceFetch fetch) {
        if (fetch == null) {
            return "";
        }
        if (fetch.announcedLength() < 0) {
            return fetch.answered() ? "" : " before answering";
        }
        return " after " + fetch.written() + " of " + fetch.announcedLength() + " piece bytes";
    }
}
