package dev.pollen.agent.mirror;

import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/** The mirror's own answers: a status, why, and one line of text naming the cause. */
final class Responses {
    private Responses() {
    }

    /** @return whether the connection may serve another request */
    static boolean error(Exchange ex, HttpResponseStatus status, String reason, String message) throws IOException {
        byte[] text = (message + "\n").getBytes(StandardCharsets.UTF_8);
        FullHttpResponse response = new DefaultFullHttpResponse(ex.version, status,
                ex.method.equals("HEAD") ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(text));
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
        response.headers().set(HttpHeaderNames.CONTENT_LENGTH, text.length);
        response.headers().set(Exchange.REASON, reason);
        ex.connectionHeaders(response, ex.keepAlive);
        ex.status = status.code();
        if (ex.reason.equals("-")) {
            ex.reason = reason;
        }
        ex.out.write(response, ex.method.equals("HEAD") ? 0 : text.length);
        ex.out.drain();
        return ex.keepAlive;
    }
}
