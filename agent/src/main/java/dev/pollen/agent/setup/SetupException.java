package dev.pollen.agent.setup;

/** A failure of the set-up the user can fix; its message is one line naming the cause and the fix. */
final class SetupException extends RuntimeException {
    private final boolean badFlag;

    SetupException(String message) {
        this(message, false, null);
    }

    SetupException(String message, Throwable cause) {
        this(message, false, cause);
    }

    private SetupException(String message, boolean badFlag, Throwable cause) {
        super(message, cause);
        this.badFlag = badFlag;
    }

    /** A flag's value is wrong: nothing was read or written yet. */
    static SetupException badFlag(String message) {
        return new SetupException(message, true, null);
    }

    boolean badFlag() {
        return badFlag;
    }
}
