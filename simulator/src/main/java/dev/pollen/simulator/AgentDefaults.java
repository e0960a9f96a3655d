package dev.pollen.simulator;

import java.time.Duration;

/**
 * The agent's configuration defaults the simulated agents run with: dfdaemon-default.yaml's values, which the agent
 * reads from its own resource (the simulator does not depend on the agent; {@code AgentDefaultsTest} loads the
 * agent's default configuration and fails when one of these differs). The policy's own constants (refresh, stall,
 * slow floor, busy back-off, endgame, slot count per uplink) come from module {@code policy} directly.
 */
final class AgentDefaults {
    /** download.concurrentPieceCount: pieces one task fetches at once. */
    static final int CONCURRENT_PIECES = 8;
    /** download.pieceTimeout: the longest a piece may take; also how long a fetch waits for a holder with room. */
    static final Duration PIECE_TIMEOUT = Duration.ofSeconds(60);
    /** upload.slotWait: how long a request beyond the upload slots waits for one before it is answered busy. */
    static final Duration SLOT_WAIT = Duration.ofMillis(50);
    /** seedPeer.superSeeding: the longest a piece fresh from the origin is announced to one child only. */
    static final Duration SUPER_SEEDING = Duration.ofSeconds(5);

    private AgentDefaults() {
    }
}
