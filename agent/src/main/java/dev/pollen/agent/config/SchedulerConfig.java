package dev.pollen.agent.config;

import java.time.Duration;
import java.util.List;

/** {@code scheduler.*}: where the schedulers are; none means every download comes from the origin. */
public record SchedulerConfig(List<String> addresses, Duration announceInterval, Duration scheduleTimeout) {
    public SchedulerConfig {
        addresses = addresses == null ? List.of() : addresses.stream().map(String::trim).filter(a -> !a.isEmpty()).toList();
        for (String a : addresses) {
            if (!a.matches("[^:\\s]+:\\d{1,5}")) {
                throw ConfigException.invalid("scheduler.addresses", a, "host:port entries, e.g. scheduler.pollen:8002");
            }
        }
        Check.positive("scheduler.announceInterval", announceInterval);
        Check.positive("scheduler.scheduleTimeout", scheduleTimeout);
    }

    public boolean enabled() {
        return !addresses.isEmpty();
    }
}
