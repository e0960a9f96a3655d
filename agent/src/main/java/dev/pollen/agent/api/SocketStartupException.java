package dev.pollen.agent.api;

/** The daemon must not start on this socket path; the message says why and what to do. */
public final class SocketStartupException extends RuntimeException {
    private final Reason reason;

    public SocketStartupException(Reason reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }

    /** Each reason exits the daemon with its own code, so supervisors and tests can tell them apart. */
    public enum Reason {
        LOCKED(10),
        LIVE_DAEMON(11),
        NOT_A_SOCKET(12),
        UNUSABLE_PATH(13);

        private final int exitCode;

        Reason(int exitCode) {
            this.exitCode = exitCode;
        }

        public int exitCode() {
            return exitCode;
        }
    }
}
