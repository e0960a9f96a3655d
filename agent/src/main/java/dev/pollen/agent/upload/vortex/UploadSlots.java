package dev.pollen.agent.upload.vortex;

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
final class UploadSlots {
    /** Requests allowed to wait per slot; a longer line would only wait past its deadline. */
    static final int WAITING_PER_SLOT = 4;

    /** What became of a request. */
    enum Admission {
        /** A slot was free: the continuation has run; the caller owes a {@link #release}. */
        GRANTED,
        /** In line: the continuation runs when a slot is handed over, unless {@link #withdraw} comes first. */
        WAITING,
        /** The line is full too: nothing will run; answer busy now. */
        FULL
    }

    /** One request for a slot, from {@code child} (any key with equals: the child's address). */
    static final class Request {
        private final Object child;
        private final Runnable granted;
        private long arrival;

        Request(Object child, Runnable granted) {
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

    /** @param limit pieces uploaded at once; 0 means no cap */
    UploadSlots(int limit) {
        if (limit < 0) {
            throw new IllegalArgumentException("upload.concurrentPieceLimit: " + limit + " (expected: 0 for none, or more)");
        }
        this.limit = limit;
        this.maxWaiting = WAITING_PER_SLOT * limit;
    }

    /** Asks for a slot; see {@link Admission} for what the caller owes in each case. */
    Admission acquire(Request request) {
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
    synchronized boolean withdraw(Request request) {
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
    void release(Object child) {
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
    int limit() {
        return limit;
    }

    synchronized int inUse() {
        return used;
    }

    synchronized int waiting() {
        return waitingCount;
    }
}
