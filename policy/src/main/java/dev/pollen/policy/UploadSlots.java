package dev.pollen.policy;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The node's upload slots (BitTorrent's unchoke slots): at most {@code limit} pieces are uploaded at once,
 * across all connections, so each runs near link speed instead of all crawling together. A request over
 * the cap waits in a short line — at most {@value #WAITING_PER_SLOT} per slot, and only as long as its
 * caller lets it before withdrawing it (then the child hears BUSY and asks another parent).
 *
 * <p>Pieces this node has sent least first: each request has a rank, the times this node already sent (or began to
 * send) its piece, and a freed slot goes to the lowest rank in line; a full line turns away its highest-ranked request
 * for a lower-ranked newcomer. A node whose uplink is the only way into the swarm for its newest pieces (the seed
 * peer, fed by the origin at the speed of one downlink) then sends each piece once before any piece twice: a second
 * copy from it costs the swarm a piece nobody else could have sent, while the children that hold the first copy can
 * pass it on.
 *
 * <p>Fair across children among equal ranks: the slot goes to the waiting child that holds the fewest slots right now
 * (ties: whose request came first), so a child with many streams open cannot keep another out. Never blocks a
 * thread: a waiting request's continuation runs when a slot frees, on the thread that freed it.
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
        /**
         * In line: the continuation runs when a slot is handed over, unless {@link #withdraw} comes first or a
         * lower-ranked request turns it away (then its {@code turnedAway} runs).
         */
        WAITING,
        /** The line is full too: nothing will run; answer busy now. */
        FULL
    }

    /** One request for a slot, from {@code child} (any key with equals: the child's address). */
    public static final class Request {
        private final Object child;
        private final String task;
        private final int piece;
        private final Runnable granted;
        private final Runnable turnedAway;
        private long arrival;

        /** A request for no piece in particular (rank 0), that nothing turns away. */
        public Request(Object child, Runnable granted) {
            this(child, null, 0, granted, () -> {
            });
        }

        /**
         * @param task the task of the piece asked for; with {@code piece}, what ranks the request
         * @param turnedAway runs (instead of {@code granted}) when a request for a piece sent fewer times takes this
         *     one's place in line: answer busy then
         */
        public Request(Object child, String task, int piece, Runnable granted, Runnable turnedAway) {
            this.child = child;
            this.task = task;
            this.piece = piece;
            this.granted = granted;
            this.turnedAway = turnedAway;
        }
    }

    private final int limit;
    private final int maxWaiting;
    /** Tasks whose pieces' slot counts are kept; the least recently served beyond them are forgotten. */
    static final int TASKS_COUNTED = 64;
    /** Pieces numbered from here on are not counted (rank 0): a request's number is not checked before its slot. */
    static final int PIECES_COUNTED = 1 << 16;

    private final Map<Object, Integer> held = new HashMap<>();
    /** Per task, how many times each piece was given a slot here: a request's rank. */
    private final Map<String, int[]> granted = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, int[]> eldest) {
            return size() > TASKS_COUNTED;
        }
    };
    /** Waiting requests in arrival order: at most {@link #maxWaiting}, so a scan is cheap. */
    private final List<Request> waiting = new ArrayList<>();
    private int used;
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
        Admission admission;
        Request bumped = null;
        synchronized (this) {
            if (limit == 0 || used < limit) {
                take(request);
                admission = Admission.GRANTED;
            } else {
                if (waiting.size() >= maxWaiting) {
                    bumped = worst();
                    if (bumped == null || rank(bumped) <= rank(request)) {
                        return Admission.FULL;
                    }
                    waiting.remove(bumped);
                }
                request.arrival = arrivals++;
                waiting.add(request);
                admission = Admission.WAITING;
            }
        }
        if (bumped != null) {
            bumped.turnedAway.run();
        }
        if (admission == Admission.GRANTED) {
            request.granted.run();
        }
        return admission;
    }

    /** Takes a waiting request out of line; false when it was already granted, turned away (or never waited). */
    public synchronized boolean withdraw(Request request) {
        return waiting.remove(request);
    }

    /** Frees {@code child}'s slot, or hands it straight to the best request in line. */
    public void release(Object child) {
        Request next;
        synchronized (this) {
            held.merge(child, -1, (a, b) -> a + b == 0 ? null : a + b);
            used--;
            next = best();
            if (next == null) {
                return;
            }
            waiting.remove(next);
            take(next);
        }
        next.granted.run();
    }

    /** The waiting request of the lowest rank; among equals, of the child holding the fewest slots, then the first. */
    private Request best() {
        Request best = null;
        int bestHeld = Integer.MAX_VALUE;
        long bestRank = Long.MAX_VALUE;
        for (Request r : waiting) {
            int h = held.getOrDefault(r.child, 0);
            long rank = rank(r);
            if (rank < bestRank || rank == bestRank && (h < bestHeld || h == bestHeld && r.arrival < best.arrival)) {
                best = r;
                bestHeld = h;
                bestRank = rank;
            }
        }
        return best;
    }

    /** The waiting request a lower-ranked newcomer turns away: the highest rank, the latest of them. */
    private Request worst() {
        Request worst = null;
        long worstRank = -1;
        for (Request r : waiting) {
            long rank = rank(r);
            if (rank >= worstRank) {
                worst = r;
                worstRank = rank;
            }
        }
        return worst;
    }

    /** How many times the request's piece was given a slot here so far (0 for a request of no piece). */
    private long rank(Request r) {
        int[] counts = r.task == null ? null : granted.get(r.task);
        return counts == null || r.piece < 0 || r.piece >= counts.length ? 0 : counts[r.piece];
    }

    private void take(Request r) {
        used++;
        held.merge(r.child, 1, Integer::sum);
        if (r.task != null && r.piece >= 0 && r.piece < PIECES_COUNTED) {
            int[] counts = granted.get(r.task);
            if (counts == null || r.piece >= counts.length) {
                int[] grown = new int[Math.min(PIECES_COUNTED, Math.max(r.piece + 1, counts == null ? 16 : 2 * counts.length))];
                if (counts != null) {
                    System.arraycopy(counts, 0, grown, 0, counts.length);
                }
                counts = grown;
                granted.put(r.task, counts);
            }
            counts[r.piece]++;
        }
    }

    /** Pieces uploaded at once at most; 0: no cap. */
    public int limit() {
        return limit;
    }

    public synchronized int inUse() {
        return used;
    }

    public synchronized int waiting() {
        return waiting.size();
    }
}
