package dev.pollen.tls;

import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;

/** Reports a failed TLS handshake on a Netty channel ({@link TlsRefusals}, once per peer address and reason), then closes it. */
@ChannelHandler.Sharable
final class HandshakeRefusals extends ChannelInboundHandlerAdapter {
    private final TlsRefusals refusals;
    private final String side;

    HandshakeRefusals(TlsRefusals refusals, String side) {
        this.refusals = refusals;
        this.side = side;
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof SslHandshakeCompletionEvent done) {
            // A certificate the trust manager refused was reported there, with its subject.
            if (!done.isSuccess() && !causedByCertificate(done.cause())) {
                String address = ctx.channel().remoteAddress() instanceof java.net.InetSocketAddress a
                        ? a.getAddress().getHostAddress() : String.valueOf(ctx.channel().remoteAddress());
                refusals.refused(side, address, done.cause().getMessage() != null ? done.cause().getMessage() : done.cause().toString());
            }
            if (!done.isSuccess()) {
                ctx.close();
            }
            ctx.pipeline().remove(this);
        }
        super.userEventTriggered(ctx, evt);
    }

    private static boolean causedByCertificate(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof java.security.cert.CertificateException) {
                return true;
            }
        }
        return false;
    }
}
