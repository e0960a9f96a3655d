package dev.pollen.agent.origin;

import dev.pollen.agent.storage.PieceRecord;
import java.net.URI;
import java.util.Map;

/**
 * Somewhere one piece can come from. The task manager asks a source for a piece it has claimed; the
 * source writes the bytes at the piece's offset and returns the checked record. The origin is one
 * source; parents (peers) are others.
 */
public interface PieceSource {
    PieceRecord fetch(Target target, int number) throws RangeIgnoredException;

    /** Where the task's pieces go and how its origin is reached. */
    record Target(dev.pollen.agent.storage.StoredTask store, URI origin, Map<String, String> headers) {
    }

    /** The origin answered a range request with the whole content: stream it instead. */
    final class RangeIgnoredException extends Exception {
        public RangeIgnoredException(URI uri) {
            super("origin ignored a range request for " + uri, null, false, false);
        }
    }
}
