package dev.pollen.agent.mirror;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A map of at most {@code capacity} entries that forgets the least recently used first: the mirror's memories
 * (access confirmations, tag answers) stay bounded whatever clients ask. Guarded by its monitor, held for map
 * operations only.
 */
final class LruMap<V> {
    private final Map<String, V> entries;

    LruMap(int capacity) {
        this.entries = new LinkedHashMap<>(Math.min(capacity, 1024), 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, V> eldest) {
                return size() > capacity;
            }
        };
    }

    /** The value of {@code key}, or null. */
    synchronized V get(String key) {
        return entries.get(key);
    }

    synchronized void put(String key, V value) {
        entries.put(key, value);
    }
}
