package dev.pollen.agent.task;

/** Where a piece's bytes came from, for the caller's traffic accounting (Dragonfly's TrafficType). */
public enum PieceOrigin {
    /** Fetched from the origin for this task. */
    BACK_TO_SOURCE("origin"),
    /** Fetched from another peer. */
    REMOTE_PEER("peer"),
    /** Already on this node's disk before the request. */
    LOCAL_PEER("local");

    private final String label;

    PieceOrigin(String label) {
        this.label = label;
    }

    /** The metrics' {@code source} label. */
    public String label() {
        return label;
    }
}
