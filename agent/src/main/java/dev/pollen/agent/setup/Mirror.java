package dev.pollen.agent.setup;

import java.net.URI;
import java.util.regex.Pattern;

/**
 * The local agent's registry mirror as one {@code [host."..."]} entry: pull and resolve only (never push),
 * and a dial timeout short enough that a stopped agent costs containerd a moment before it falls back.
 *
 * @param url {@code http://host:port} or {@code https://host:port}, no path
 * @param dialTimeout a Go duration, as containerd parses it
 */
record Mirror(String url, String dialTimeout) {
    private static final Pattern GO_DURATION = Pattern.compile("([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+");

    Mirror {
        URI uri;
        try {
            uri = new URI(url);
        } catch (java.net.URISyntaxException e) {
            uri = null;
        }
        if (uri == null || !("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) || uri.getHost() == null
                || !(uri.getRawPath() == null || uri.getRawPath().isEmpty() || uri.getRawPath().equals("/"))
                || uri.getRawQuery() != null || uri.getRawUserInfo() != null) {
            throw SetupException.badFlag("--mirror " + url + ": not a mirror address (expected: http://host:port, e.g. http://127.0.0.1:4001)");
        }
        url = url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
        if (!GO_DURATION.matcher(dialTimeout).matches()) {
            throw SetupException.badFlag("--dial-timeout " + dialTimeout + ": not a duration (expected: e.g. 500ms or 1s)");
        }
    }
}
