package dev.pollen.agent.vortex;

/** The code byte of an Error frame ({@code vortex-protocol src/tlv/error.rs}); 4..255 are reserved. */
public enum VortexErrorCode {
    UNKNOWN(0),
    INVALID_ARGUMENT(1),
    NOT_FOUND(2),
    INTERNAL(3);

    private final int value;

    VortexErrorCode(int value) {
        this.value = value;
    }

    public int value() {
        return value;
    }

    /** The code for a wire byte, or null for a reserved one (a newer peer may send those). */
    public static VortexErrorCode of(int value) {
        return switch (value) {
            case 0 -> UNKNOWN;
            case 1 -> INVALID_ARGUMENT;
            case 2 -> NOT_FOUND;
            case 3 -> INTERNAL;
            default -> null;
        };
    }
}
