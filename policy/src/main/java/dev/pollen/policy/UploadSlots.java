package dev.pollen.policy;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The node's upload slots (BitTorrent's unchoke slots): at most {@code limit} pieces are uploaded at once,
 * across all connections, so each runs near link speed instead of all crawling together. A request over
 * the cap waits in a short line — at most {@value #WAITING_PER_SLOT} per slot, and only as long as its
 * caller lets it before withdrawing it (then the child hears BUSY and asks another parent).
 *
 * <p>Fair across children: a freed slot goes to the waiting child that holds the fewest slots right now
 * (ties: whose request came first), so a child with many streams open cannot keep another out. Never
 * blocks a thread: a waiting request's continuation runs when a slot frees, on the thread that freed it.
 */
public final class UploadSlots {
    /** Requests allowed to wait per slot; a longer line would only wait past its deadline. */
    public static final int WAITING_PER_SLOT = 4;
    /** ~15.6 MB/s per upload: a 4 MiB piece in about a quarter of a second. */
    public static final long BITS_PER_SLOT = 125_000_000L;
    public static final int MIN_SLOTS = 2;
    public static final int MAX_SLOTS = 16;
    /** Slots when the capacity is unknown: a 1 Gbit/s link's. */
    public static final int UNKNOWN_SLOTS = 8;

    /** What became of a request. */
    public enum Admission {
        /** A slot was free: the continuation has run; the caller owes a {@link #release}. */
        GRANTED,
        /** In line: the continuation runs when a slot is handed over, unless {@link #withdraw} comes first. */
        WAITING,
        /** The line is full too: nothing will run; answer busy now. */
        FULL
    }

    /** One request for a slot, from {@code child} (any key with equals: the child's address). */
    public static final class Request {
        private final Object child;
        private final Runnable granted;
        private long arrival;

        public Request(Object child, Runnable granted) {
            this.child = child;
            this.granted = granted;
        }
    }

    private final int limit;
    private final int maxWaiting;
    private final Map<Object, Integer> held = new HashMap<>();
    /** Waiting requests per child, children in the order they first queued. */
    private final Map<Object, ArrayDeque<Request>> waiting = new LinkedHashMap<>();
    private int used;
    private int waitingCount;
    private long arrivals;

    /**
     * The slots of an uplink of {@code bitsPerSecond} (0: unknown) when {@code upload.concurrentPieceLimit} does not
     * set them: one per {@value #BITS_PER_SLOT} bits/s, {@value #MIN_SLOTS}..{@value #MAX_SLOTS}, and
     * {@value #UNKNOWN_SLOTS} when unknown; few enough that each upload runs near link speed, enough to keep the
     * link busy across round trips.
     */
    public static int forCapacity(long bitsPerSecond) {
        if (bitsPerSecond <= 0) {
            return UNKNOWN_SLOTS;
        }
        return (int) Math.max(MIN_SLOTS, Math.min(MAX_SLOTS, bitsPerSecond / BITS_PER_SLOT));
    }

    /** @param limit pieces uploaded at once; 0 means no cap */
    public UploadSlots(int limit) {
        if (limit < 0) {
            throw new IllegalArgumentException("upload.concurrentPieceLimit: " + limit + " (expected: 0 for none, or more)");
        }
        this.limit = limit;
        this.maxWaiting = WAITING_PER_SLOT * limit;
    }

    /** Asks for a slot; see {@link Admission} for what the caller owes in each case. */
    public Admission acquire(Request request) {
        synchronized (this) {
            if (limit > 0 && used >= limit) {
                if (waitingCount >= maxWaiting) {
                    return Admission.FULL;
                }
                request.arrival = arrivals++;
                waiting.computeIfAbsent(request.child, c -> new ArrayDeque<>()).add(request);
                waitingCount++;
                return Admission.WAITING;
            }
            take(request.child);
        }
        request.granted.run();
        return Admission.GRANTED;
    }

    /** Takes a waiting request out of line; false when it was already granted (or never waited). */
    public synchronized boolean withdraw(Request request) {
        ArrayDeque<Request> line = waiting.get(request.child);
        if (line == null || !line.remove(request)) {
            return false;
        }
        waitingCount--;
        if (line.isEmpty()) {
            waiting.remove(request.child);
        }
        return true;
    }

    /** Frees {@code child}'s slot, or hands it straight to the fairest request in line. */
    public void release(Object child) {
        Request next;
        synchronized (this) {
            held.merge(child, -1, (a, b) -> a + b == 0 ? null : a + b);
            used--;
            next = fairest();
            if (next == null) {
                return;
            }
            take(next.child);
        }
        next.granted.run();
    }

    /** Removes and returns the head request of the waiting child holding the fewest slots, or null. */
    private Request fairest() {
        ArrayDeque<Request> best = null;
        int bestHeld = Integer.MAX_VALUE;
        for (ArrayDeque<Request> line : waiting.values()) {
            int h = held.getOrDefault(line.peek().child, 0);
            if (h < bestHeld || (h == bestHeld && line.peek().arrival < best.peek().arrival)) {
                best = line;
                bestHeld = h;
            }
        }
        if (best == null) {
            return null;
        }
        Request next = best.poll();
        waitingCount--;
        if (best.isEmpty()) {
            waiting.remove(next.child);
        }
        return next;
    }

    private void take(Object child) {
        used++;
        held.merge(child, 1, Integer::sum);
    }

    /** Pieces uploaded at once at most; 0: no cap. */
    public int limit() {
        return limit;
    }

    public synchronized int inUse() {
        return used;
    }

    public synchronized int waiting() {
        return waitingCount;
    }
}
