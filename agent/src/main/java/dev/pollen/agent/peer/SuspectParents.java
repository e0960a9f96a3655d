package dev.pollen.agent.peer;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The parents whose pieces made up a copy of a task that failed its content digest (a blob's sha256). Each piece
 * passed its CRC-32, so one of them sent other bytes with a digest to match: which one cannot be told, so none of them
 * is followed for that task again for a while, and the next attempt gets its pieces from other parents or, with
 * none left, from the origin. Without this the scheduler would name the same parent again and every retry would
 * fail the same way. Bounded: the least recently implicated tasks are forgotten first.
 */
public final class SuspectParents {
    static final Duration TTL = Duration.ofMinutes(30);
    static final int MAX_TASKS = 1024;

    private record Suspects(Set<String> parentIds, Instant until) {
    }

    private final Clock clock;
    private final Map<String, Suspects> byTask = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Suspects> eldest) {
            return size() > MAX_TASKS;
        }
    };

    public SuspectParents() {
        this(Clock.systemUTC());
    }

    SuspectParents(Clock clock) {
        this.clock = clock;
    }

    /** Every one of {@code parentIds} served pieces of a copy of {@code taskId} that failed its digest. */
    public synchronized void implicate(String taskId, Collection<String> parentIds) {
        if (parentIds.isEmpty()) {
            return;
        }
        Set<String> ids = new HashSet<>(parentIds);
        Suspects before = byTask.get(taskId);
        if (before != null && before.until().isAfter(clock.instant())) {
            ids.addAll(before.parentIds());
        }
        byTask.put(taskId, new Suspects(Set.copyOf(ids), clock.instant().plus(TTL)));
    }

    /** The parents not to follow for {@code taskId} now; empty when none are suspected. */
    public synchronized Set<String> of(String taskId) {
        Suspects s = byTask.get(taskId);
        if (s == null) {
            return Set.of();
        }
        if (!s.until().isAfter(clock.instant())) {
            byTask.remove(taskId);
            return Set.of();
        }
        return s.parentIds();
    }
}
