package dev.pollen.agent.upload.vortex;

import java.util.ArrayDeque;
import java.util.Queue;

/**
 * The node's cap on pieces being uploaded at once, across all connections: a request over the cap waits
 * in line (first come, first served) instead of being refused, so a busy parent answers later rather than
 * looking broken to its children. Never blocks a thread: a waiting request's continuation runs when a
 * slot frees, on the thread that freed it.
 */
final class UploadSlots {
    private final int limit;
    private final Queue<Runnable> waiting = new ArrayDeque<>();
    private int used;

    /** @param limit pieces uploaded at once; 0 means no cap */
    UploadSlots(int limit) {
        if (limit < 0) {
            throw new IllegalArgumentException("upload.concurrentPieceLimit: " + limit + " (expected: 0 for none, or more)");
        }
        this.limit = limit;
    }

    /** Runs {@code granted} now if a slot is free, otherwise once one is; the caller then owes a {@link #release}. */
    void acquire(Runnable granted) {
        synchronized (this) {
            if (limit > 0 && used >= limit) {
                waiting.add(granted);
                return;
            }
            used++;
        }
        granted.run();
    }

    /** Frees a slot, or hands it straight to the next request in line. */
    void release() {
        Runnable next;
        synchronized (this) {
            next = waiting.poll();
            if (next == null) {
                used--;
                return;
            }
        }
        next.run();
    }

    synchronized int inUse() {
        return used;
    }

    synchronized int waiting() {
        return waiting.size();
    }
}
