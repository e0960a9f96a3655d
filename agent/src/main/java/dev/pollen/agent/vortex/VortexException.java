package dev.pollen.agent.vortex;

import java.io.IOException;

/**
 * A Vortex exchange failed. The reason says why independently of any text; the server turns it into an
 * Error frame only at the edge ({@link Reason#wireCode()}), the client into a retry decision.
 */
public final class VortexException extends IOException {
    /** Why an exchange failed, and what a server says on the wire when it is the one refusing. */
    public enum Reason {
        // The framing itself is broken: the connection cannot be trusted any further.
        UNKNOWN_TAG(VortexErrorCode.INVALID_ARGUMENT, true),
        FRAME_TOO_LONG(VortexErrorCode.INVALID_ARGUMENT, true),
        MALFORMED_FRAME(VortexErrorCode.INVALID_ARGUMENT, true),
        UNEXPECTED_FRAME(VortexErrorCode.INVALID_ARGUMENT, true),
        TOO_MANY_PIPELINED(VortexErrorCode.INVALID_ARGUMENT, true),
        // A well-framed request the server cannot answer with bytes.
        INVALID_TASK_ID(VortexErrorCode.INVALID_ARGUMENT, false),
        INVALID_PIECE_NUMBER(VortexErrorCode.INVALID_ARGUMENT, false),
        TASK_NOT_FOUND(VortexErrorCode.NOT_FOUND, false),
        PIECE_NOT_FOUND(VortexErrorCode.NOT_FOUND, false),
        INTERNAL(VortexErrorCode.INTERNAL, false),
        /**
         * Every upload slot is taken: a server's answer after a short wait, and what a client sees for that
         * answer (Error code {@link VortexErrorCode#BUSY}). Not a failure of the parent.
         */
        BUSY(VortexErrorCode.BUSY, false),
        // Seen by a client only.
        /** The parent answered with an Error frame other than BUSY; {@link #remoteCode()} carries its code. */
        REMOTE_ERROR(VortexErrorCode.UNKNOWN, false),
        /** The parent announced a piece other than the one asked for (number, offset, length or digest form). */
        UNEXPECTED_PIECE(VortexErrorCode.UNKNOWN, true),
        /** The announced content is longer than the task's piece: refused before a byte is written. */
        CONTENT_TOO_LONG(VortexErrorCode.UNKNOWN, true),
        /** The received bytes do not match the digest the parent announced: nothing is recorded. */
        DIGEST_MISMATCH(VortexErrorCode.UNKNOWN, true),
        CONNECTION_CLOSED(VortexErrorCode.UNKNOWN, true),
        CONNECT_FAILED(VortexErrorCode.UNKNOWN, true),
        TIMEOUT(VortexErrorCode.UNKNOWN, true),
        /** Writing the received bytes into the local content file failed (e.g. a full disk). */
        LOCAL_WRITE_FAILED(VortexErrorCode.UNKNOWN, true);

        private final VortexErrorCode wireCode;
        private final boolean closesConnection;

        Reason(VortexErrorCode wireCode, boolean closesConnection) {
            this.wireCode = wireCode;
            this.closesConnection = closesConnection;
        }

        /** The code a server puts in the Error frame it answers with. */
        public VortexErrorCode wireCode() {
            return wireCode;
        }

        /** After this failure the byte stream is out of step (or the peer untrusted): close the connection. */
        public boolean closesConnection() {
            return closesConnection;
        }
    }

    private final Reason reason;
    private final int remoteCode;

    public VortexException(Reason reason, String message) {
        this(reason, message, null);
    }

    public VortexException(Reason reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
        this.remoteCode = -1;
    }

    private VortexException(VortexFrame.ErrorFrame frame, String peer) {
        super("parent " + peer + " answered with error " + describe(frame.code()) + ": " + frame.message());
        this.reason = frame.code() == VortexErrorCode.BUSY.value() ? Reason.BUSY : Reason.REMOTE_ERROR;
        this.remoteCode = frame.code();
    }

    /** The failure a parent reported in an Error frame: {@link Reason#BUSY} for code 4, else {@link Reason#REMOTE_ERROR}. */
    public static VortexException remote(VortexFrame.ErrorFrame frame, String peer) {
        return new VortexException(frame, peer);
    }

    public Reason reason() {
        return reason;
    }

    /** The parent (or this server) is out of upload slots: try another parent, do not count it as failed. */
    public boolean isBusy() {
        return reason == Reason.BUSY;
    }

    /** The code byte of the parent's Error frame, or -1 when the failure is not a remote error. */
    public int remoteCode() {
        return remoteCode;
    }

    private static String describe(int code) {
        VortexErrorCode known = VortexErrorCode.of(code);
        return known == null ? "reserved(" + code + ")" : known.name();
    }
}
