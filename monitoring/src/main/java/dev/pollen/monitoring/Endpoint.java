package dev.pollen.monitoring;

/** One path of a {@link MonitoringServer}: asked for its answer on every GET (and HEAD). */
@FunctionalInterface
public interface Endpoint {
    Answer answer();
}
