package dev.pollen.scheduler.client;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Predicate;

/**
 * Consistent hashing of task ids over the scheduler addresses, so that every node sends a task to the
 * same scheduler, and a scheduler joining or leaving moves only its share of the tasks. Each address
 * owns many virtual points on the ring to even out the shares.
 */
public final class SchedulerRing {
    private static final int POINTS_PER_SCHEDULER = 160;

    private final NavigableMap<Long, String> ring = new TreeMap<>();
    private final Set<String> addresses;

    public SchedulerRing(Collection<String> addresses) {
        if (addresses.isEmpty()) {
            throw new IllegalArgumentException("no scheduler addresses");
        }
        this.addresses = Set.copyOf(addresses);
        for (String address : this.addresses) {
            for (int i = 0; i < POINTS_PER_SCHEDULER; i++) {
                ring.put(hash(address + "#" + i), address);
            }
        }
    }

    public Set<String> addresses() {
        return addresses;
    }

    /** The scheduler that owns the task. */
    public String owner(String taskId) {
        return candidates(taskId).get(0);
    }

    /** The first scheduler on the ring from the task's point that {@code usable} accepts, or null. */
    public String owner(String taskId, Predicate<String> usable) {
        for (String address : candidates(taskId)) {
            if (usable.test(address)) {
                return address;
            }
        }
        return null;
    }

    /** Every scheduler once, in ring order from the task's point: the owner first, then its successors. */
    public List<String> candidates(String taskId) {
        List<String> order = new ArrayList<>(addresses.size());
        long point = hash(taskId);
        for (Map.Entry<Long, String> e : ring.tailMap(point, true).entrySet()) {
            addDistinct(order, e.getValue());
        }
        for (Map.Entry<Long, String> e : ring.headMap(point, false).entrySet()) {
            addDistinct(order, e.getValue());
        }
        return order;
    }

    private void addDistinct(List<String> order, String address) {
        if (order.size() < addresses.size() && !order.contains(address)) {
            order.add(address);
        }
    }

    private static long hash(String key) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8));
            long h = 0;
            for (int i = 0; i < 8; i++) {
                h = (h << 8) | (d[i] & 0xFF);
            }
            return h;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }
}
