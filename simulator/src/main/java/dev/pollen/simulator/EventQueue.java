package dev.pollen.simulator;

import java.util.PriorityQueue;

/** Virtual-time events; equal times run in the order they were scheduled, so a run depends only on its seed. */
final class EventQueue {
    private record Event(double time, long seq, Runnable action) implements Comparable<Event> {
        @Override
        public int compareTo(Event o) {
            int c = Double.compare(time, o.time);
            return c != 0 ? c : Long.compare(seq, o.seq);
        }
    }

    private final PriorityQueue<Event> events = new PriorityQueue<>(1 << 16);
    private long seq;
    private double now;
    private long processed;

    void at(double time, Runnable action) {
        events.add(new Event(Math.max(time, now), seq++, action));
    }

    double now() {
        return now;
    }

    long processed() {
        return processed;
    }

    /** Runs the next event; false when none is left or the next lies beyond {@code horizon}. */
    boolean runNext(double horizon, VirtualClock clock) {
        Event e = events.peek();
        if (e == null || e.time > horizon) {
            return false;
        }
        events.poll();
        now = e.time;
        clock.set(now);
        processed++;
        e.action.run();
        return true;
    }
}
