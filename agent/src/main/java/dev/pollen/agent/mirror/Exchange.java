package dev.pollen.agent.mirror;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One request and what became of it: the headers as the client sent them (copied off the event loop's buffers), and
 * the route, status, bytes and source that its one log line reports.
 */
final class Exchange {
    private static final Logger log = LoggerFactory.getLogger(Exchange.class);
    static final String SOURCE = "X-Pollen-Source";
    static final String REASON = "X-Pollen-Reason";

    final String method;
    final String target;
    final HttpVersion version;
    final HttpHeaders headers;
    /** The request's body as it arrives (empty for most: pulls send none). */
    final RequestBody body;
    final boolean keepAlive;
    final ChannelOutput out;
    String upstream = "-";
    String route = "-";
    int status;
    String source = "-";
    String reason = "-";
    /** How the client's access to a held object was settled ({@link AccessCheck}), or "-" when none was needed. */
    String access = "-";

    Exchange(HttpRequest request, RequestBody body, ChannelOutput out) {
        this.method = request.method().name();
        this.target = request.uri();
        this.version = request.protocolVersion();
        this.headers = request.headers().copy();
        this.body = body;
        this.keepAlive = HttpUtil.isKeepAlive(request);
        this.out = out;
    }

    /** The client's header lines to send upstream: every value, in order, without hop-by-hop ones and ours. */
    List<Map.Entry<String, String>> forwardedHeaders() {
        HopByHop hop = HopByHop.of(headers.getAll(HttpHeaderNames.CONNECTION));
        List<Map.Entry<String, String>> kept = new ArrayList<>();
        for (Map.Entry<String, String> h : headers) {
            if (!hop.isHopByHop(h.getKey()) && !h.getKey().equalsIgnoreCase(Registries.REGISTRY_HEADER)) {
                kept.add(Map.entry(h.getKey(), h.getValue()));
            }
        }
        return kept;
    }

    /** Connection handling of a response about to be sent: keep-alive as the request asked, unless told otherwise. */
    void connectionHeaders(HttpResponse response, boolean keep) {
        if (!keep) {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        } else if (version.equals(HttpVersion.HTTP_1_0)) {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
        }
    }

    void logged() {
        log.info("event=mirror_request method={} path={} upstream={} route={} status={} bytes={} source={} reason={} access={}",
                method, quoted(Router.shorten(target)), quoted(upstream), route, status, out.bodyBytes(), source, reason, access);
    }

    /** One token of a log line whatever the client sent: control bytes shown as '?', quoted when it has spaces. */
    private static String quoted(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        s.chars().forEach(c -> sb.append(c < 0x20 || c >= 0x7f ? '?' : c == '"' ? '\'' : (char) c));
        String clean = sb.toString();
        return clean.indexOf(' ') >= 0 || clean.isEmpty() ? '"' + clean + '"' : clean;
    }
}
