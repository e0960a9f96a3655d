package dev.pollen.agent.vortex;

/**
 * The code byte of an Error frame ({@code vortex-protocol src/tlv/error.rs}): 0..3 are the protocol's, 4..255
 * reserved. Pollen uses reserved 4 for {@link #BUSY}; a Dragonfly child reads it as an unknown code and, as
 * for any error, tries the piece's next parent, which is what busy asks of it.
 */
public enum VortexErrorCode {
    UNKNOWN(0),
    INVALID_ARGUMENT(1),
    NOT_FOUND(2),
    INTERNAL(3),
    /** Pollen's: every upload slot is taken; the request was not served, the parent is fine, ask another. */
    BUSY(4);

    private final int value;

    VortexErrorCode(int value) {
        this.value = value;
    }

    public int value() {
        return value;
    }

    /** The code for a wire byte, or null for a reserved one Pollen does not use (a newer peer may send those). */
    public static VortexErrorCode of(int value) {
        return switch (value) {
            case 0 -> UNKNOWN;
            case 1 -> INVALID_ARGUMENT;
            case 2 -> NOT_FOUND;
            case 3 -> INTERNAL;
            case 4 -> BUSY;
            default -> null;
        };
    }
}
