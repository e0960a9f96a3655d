package dev.pollen.monitoring;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * Whether a process serves: its phase, and while it is serving the checks that must pass (storage writable, ...).
 * The HTTP health endpoint and the gRPC health service read the same verdict: the endpoint asks on every request,
 * and every listener hears each change of the verdict, whoever noticed it first.
 */
public final class Readiness {
    /** Where the process is in its life. */
    public enum Phase {
        STARTING("starting"),
        SERVING("serving"),
        STOPPING("stopping");

        private final String token;

        Phase(String token) {
            this.token = token;
        }
    }

    /** One condition of serving. */
    @FunctionalInterface
    public interface Check {
        /** @return null when the condition holds, else one line saying what is wrong and how to fix it */
        String problem();
    }

    private final List<Check> checks = new CopyOnWriteArrayList<>();
    private final List<Consumer<Boolean>> listeners = new CopyOnWriteArrayList<>();
    private volatile Phase phase = Phase.STARTING;
    private Boolean lastVerdict;

    public void addCheck(Check check) {
        checks.add(check);
    }

    /** {@code listener} hears {@code true} when the process starts to serve and {@code false} when it stops to. */
    public void onChange(Consumer<Boolean> listener) {
        listeners.add(listener);
    }

    public Phase phase() {
        return phase;
    }

    public void serving() {
        phase = Phase.SERVING;
        problem();
    }

    /** Final: a stopping process never serves again. */
    public void stopping() {
        phase = Phase.STOPPING;
        problem();
    }

    /** Null when the process serves, else why not (one line); listeners hear of a change in the verdict. */
    public synchronized String problem() {
        String problem = phase == Phase.SERVING ? firstProblem() : phase.token;
        boolean serves = problem == null;
        if (lastVerdict == null || lastVerdict != serves) {
            lastVerdict = serves;
            listeners.forEach(l -> l.accept(serves));
        }
        return problem;
    }

    private String firstProblem() {
        for (Check check : checks) {
            String problem = check.problem();
            if (problem != null) {
                return problem;
            }
        }
        return null;
    }
}
