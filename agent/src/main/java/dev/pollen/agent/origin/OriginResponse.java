package dev.pollen.agent.origin;

import java.io.InputStream;
import java.net.URI;
import java.util.List;
import java.util.Map;

/**
 * An origin's answer whose body is still to be read.
 *
 * @param uri the url after redirects
 * @param partial 206: the body is the range asked for
 * @param totalLength the whole content's length, -1 if the origin did not tell
 */
public record OriginResponse(URI uri, boolean partial, long totalLength, Map<String, List<String>> headers, InputStream body) {
}
