package dev.pollen.agent.task;

/** The content ended before this piece number: the stream turned out shorter than the piece asked for. */
public final class NoSuchPieceException extends RuntimeException {
    public NoSuchPieceException(int number, int count) {
        super("piece " + number + " does not exist: the content has " + count + " pieces", null, false, false);
    }
}
