package dev.pollen.agent.upload.vortex;

import java.time.Duration;

/** Counts requests being answered, so shutdown can let them finish before it closes connections. */
final class InFlight {
    private int count;

    synchronized void enter() {
        count++;
    }

    synchronized void exit() {
        if (--count == 0) {
            notifyAll();
        }
    }

    synchronized int count() {
        return count;
    }

    /** Waits until nothing is in flight or {@code timeout} passes; returns what is still in flight. */
    synchronized int awaitIdle(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (count > 0) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                break;
            }
            long millis = Math.max(1, left / 1_000_000);
            wait(millis);
        }
        return count;
    }
}
