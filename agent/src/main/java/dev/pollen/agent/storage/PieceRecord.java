package dev.pollen.agent.storage;

/** A piece that is on disk with its CRC-32 (IEEE) recorded. */
public record PieceRecord(int number, long offset, long length, long crc32) {
    public PieceRecord {
        if (number < 0 || offset < 0 || length < 0 || crc32 < 0 || crc32 > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException("invalid piece record: number=" + number + " offset=" + offset
                    + " length=" + length + " crc32=" + crc32);
        }
    }

    /** The digest in Dragonfly's piece notation. */
    public String digest() {
        return "crc32:" + crc32;
    }
}
