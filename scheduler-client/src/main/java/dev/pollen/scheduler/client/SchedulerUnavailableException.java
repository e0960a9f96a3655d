package dev.pollen.scheduler.client;

/** No scheduler answered; the caller may go back to the origin, and should say so once. */
public final class SchedulerUnavailableException extends Exception {
    public SchedulerUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
