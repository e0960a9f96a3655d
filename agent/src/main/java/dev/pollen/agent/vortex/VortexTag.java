package dev.pollen.agent.vortex;

/** The frame tags Pollen speaks (see {@link VortexWire} for the upstream source of each value). */
public enum VortexTag {
    DOWNLOAD_PIECE(0),
    PIECE_CONTENT(1),
    CLOSE(254),
    ERROR(255);

    private final int value;

    VortexTag(int value) {
        this.value = value;
    }

    public int value() {
        return value;
    }

    /** The tag for a wire byte, or null for one Pollen does not speak (reserved, or an upstream extension). */
    public static VortexTag of(int value) {
        return switch (value) {
            case 0 -> DOWNLOAD_PIECE;
            case 1 -> PIECE_CONTENT;
            case 254 -> CLOSE;
            case 255 -> ERROR;
            default -> null;
        };
    }
}
