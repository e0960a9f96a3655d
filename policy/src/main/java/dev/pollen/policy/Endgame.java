package dev.pollen.policy;

/**
 * When a download races its last pieces: once every piece it still misses is being fetched and they are at most
 * {@value #PIECES}, each is asked of a second holder too (one with room, never the first request's parent) and the
 * first to arrive wins; the other request is cancelled. A last piece stuck behind one slow uplink then costs the
 * fastest holder's time, not the slowest's.
 */
public final class Endgame {
    /** The endgame starts when this few pieces are missing, all in flight. */
    public static final int PIECES = 4;

    private Endgame() {
    }

    /** Whether second requests start, with {@code inFlight} pieces being fetched and {@code missing} not yet held. */
    public static boolean on(int inFlight, int missing) {
        return inFlight > 0 && inFlight <= PIECES && missing <= inFlight;
    }
}
