package dev.pollen.agent.config;

import java.time.Duration;
import java.util.List;

/**
 * {@code scheduler.*}: where the schedulers are; none means every download comes from the origin.
 *
 * @param reannounceLimit finished tasks (the most recently used) announced again to a scheduler that forgot this
 *     host (a restart); 0 announces none
 */
public record SchedulerConfig(List<String> addresses, Duration announceInterval, Duration scheduleTimeout, int reannounceLimit,
                              boolean tls) {
    public static final int MAX_REANNOUNCE_LIMIT = 100_000;

    public SchedulerConfig {
        addresses = addresses == null ? List.of() : addresses.stream().map(String::trim).filter(a -> !a.isEmpty()).toList();
        for (String a : addresses) {
            if (!a.matches("[^:\\s]+:\\d{1,5}")) {
                throw ConfigException.invalid("scheduler.addresses", a, "host:port entries, e.g. scheduler.pollen:8002");
            }
        }
        Check.positive("scheduler.announceInterval", announceInterval);
        Check.positive("scheduler.scheduleTimeout", scheduleTimeout);
        Check.range("scheduler.reannounceLimit", reannounceLimit, 0, MAX_REANNOUNCE_LIMIT);
    }

    public boolean enabled() {
        return !addresses.isEmpty();
    }
}
