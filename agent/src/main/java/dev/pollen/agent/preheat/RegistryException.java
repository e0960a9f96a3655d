package dev.pollen.agent.preheat;

/** The registry could not give the image: unreachable, credentials needed or refused, not found, or an answer we cannot use. */
public final class RegistryException extends Exception {
    public RegistryException(String message) {
        super(message);
    }

    public RegistryException(String message, Throwable cause) {
        super(message, cause);
    }
}
