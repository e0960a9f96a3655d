package dev.pollen.agent.mirror;

import dev.pollen.agent.error.PollenException;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.LastHttpContent;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Forwards a request to the registry and its answer to the client unchanged: status, every header value but the
 * hop-by-hop ones, and the body streamed in bounded chunks as it arrives. An answer that never came (unreachable,
 * refused redirect) is a 502 saying why: containerd then tries its next host.
 */
final class PassThrough {
    private static final Logger log = LoggerFactory.getLogger(PassThrough.class);
    private static final int CHUNK = 64 * 1024;

    private final UpstreamClient upstream;

    PassThrough(UpstreamClient upstream) {
        this.upstream = upstream;
    }

    /** @return whether the connection may serve another request */
    boolean forward(Exchange ex, URI uri, String reason) throws IOException {
        ex.route = "passthrough";
        ex.upstream = uri.toString();
        UpstreamClient.Response answer;
        try {
            answer = ask(ex, uri);
        } catch (IOException | PollenException e) {
            RequestBody.ClientFault client = RequestBody.ClientFault.in(e);
            if (client != null) {
                return Responses.error(ex, client.status, "client_body", client.getMessage());
            }
            return unreachable(ex, uri, e, reason);
        }
        return relay(ex, answer, reason);
    }

    /** The client's request as the registry at {@code uri} answers it; the answer's body is the caller's to close. */
    UpstreamClient.Response ask(Exchange ex, URI uri) throws IOException {
        return upstream.send(new UpstreamClient.Request(ex.method, uri, ex.forwardedHeaders(),
                new UpstreamClient.Body(ex.body, ex.body.length())));
    }

    /** The 502 for a registry that gave no answer: containerd then tries its next host. */
    boolean unreachable(Exchange ex, URI uri, Exception e, String reason) throws IOException {
        log.debug("event=mirror_upstream_failed upstream={} error=\"{}\"", uri, e.toString());
        ex.reason = reason;
        return Responses.error(ex, HttpResponseStatus.BAD_GATEWAY, "upstream_unreachable",
                "registry " + uri.getRawAuthority() + " could not be asked: " + e.getMessage());
    }

    /** Sends the registry's {@code answer} on unchanged, its body streamed, and closes it. */
    boolean relay(Exchange ex, UpstreamClient.Response answer, String reason) throws IOException {
        ex.reason = reason;
        try (InputStream body = answer.body()) {
            HttpResponse response = new DefaultHttpResponse(ex.version, HttpResponseStatus.valueOf(answer.status()));
            HopByHop hop = HopByHop.of(answer.headers().getOrDefault("connection", List.of()));
            boolean length = false;
            for (Map.Entry<String, List<String>> h : answer.headers().entrySet()) {
                if (hop.isHopByHop(h.getKey()) || h.getKey().startsWith(":")) {
                    continue;
                }
                length |= h.getKey().equalsIgnoreCase("content-length");
                for (String value : h.getValue()) {
                    response.headers().add(h.getKey(), value);
                }
            }
            response.headers().set(Exchange.REASON, reason);
            boolean bodyless = ex.method.equals("HEAD") || answer.status() == 204 || answer.status() == 304
                    || answer.status() < 200;
            // A body of unknown length is sent chunked to an HTTP/1.1 client; an HTTP/1.0 one reads it to the close.
            boolean chunked = !bodyless && !length && ex.version.minorVersion() == 1;
            boolean keep = ex.keepAlive && (bodyless || length || chunked);
            if (chunked) {
                response.headers().set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
            }
            ex.connectionHeaders(response, keep);
            ex.status = answer.status();
            ex.out.write(response, 0);
            if (!bodyless) {
                byte[] chunk = new byte[CHUNK];
                for (int n; (n = body.read(chunk)) >= 0; ) {
                    if (n > 0) {
                        ex.out.write(new DefaultHttpContent(Unpooled.copiedBuffer(chunk, 0, n)), n);
                    }
                }
            }
            ex.out.write(LastHttpContent.EMPTY_LAST_CONTENT, 0);
            ex.out.drain();
            return keep;
        }
    }
}
