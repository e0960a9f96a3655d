package dev.pollen.policy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * BitTorrent's super-seeding, for a seed peer whose uplink is the swarm's scarcest link: a piece that just
 * landed here (from the origin) is announced to one of the task's children at first, a different child for
 * each new piece, and to the others only once that child has had it for {@link #RELAY} (time to announce it
 * and pass it on to them), or {@code hold} after it landed, whichever comes first. Without it every child
 * asks the seed for the newest pieces (they are the rarest, held by the seed alone) and the seed sends each
 * piece to several children; with it the seed's uplink carries about one copy of the file while the origin
 * delivers it, and the children's uplinks the rest. A piece that has been here longer than {@code hold} (a
 * seed that already has the task) is announced to everyone at once, and so is every piece while the task has more
 * than {@link #MAX_CHILDREN} children here (the seed's uplink is then not the swarm's scarce link).
 *
 * <p>Decisions only: the streams (the agent's SyncPieces streams, or the simulator's children: the {@link Follower}s) do the sending, and ask again
 * when a delay they were given has passed. The lock is never held while a stream's own lock is: a stream asks
 * outside its lock, and asking takes the other streams' locks briefly to see whether they still want a piece.
 */
public final class SuperSeeding {
    /**
     * The most children of a task for which the seed super-seeds. With a few children the seed's uplink is what they
     * share, and sending each fresh piece once saves it (8 agents at 400 mbit: 16.7 s instead of 18.3 s, simulated).
     * With many children their own uplinks carry the swarm, the seed's 8 upload slots are busy with distinct pieces
     * anyway, and holding pieces back from all but one child only delays their spread (300 children: 2.1 x the limit
     * instead of 1.8 x). Above it every piece goes to every child at once.
     */
    public static final int MAX_CHILDREN = 16;

    /** How long the first child has a piece to itself once it has it: to announce it and send it to the others. */
    public static final Duration RELAY = Duration.ofSeconds(1);

    /** One child's SyncPieces stream of a task. */
    public interface Follower {
        /** Whether the child still waits to hear of the piece. */
        boolean wants(int piece);
    }

    /** Off: every piece goes to every child at once. */
    public static final SuperSeeding OFF = new SuperSeeding(Duration.ZERO, System::nanoTime);

    private final long holdNanos;
    private final long relayNanos;
    private final LongSupplier nanoTime;
    private final Map<String, TaskFollowers> tasks = new HashMap<>();

    public SuperSeeding(Duration hold, LongSupplier nanoTime) {
        this.holdNanos = hold.toNanos();
        this.relayNanos = Math.min(RELAY.toNanos(), holdNanos);
        this.nanoTime = nanoTime;
    }

    /** @param hold the longest a fresh piece is kept from all but one child; zero for {@link #OFF} */
    public static SuperSeeding of(Duration hold) {
        return hold.isZero() ? OFF : new SuperSeeding(hold, System::nanoTime);
    }

    public boolean enabled() {
        return holdNanos > 0;
    }

    public synchronized void join(String taskId, Follower stream) {
        if (enabled()) {
            tasks.computeIfAbsent(taskId, id -> new TaskFollowers()).streams.add(stream);
        }
    }

    public synchronized void leave(String taskId, Follower stream) {
        TaskFollowers followers = tasks.get(taskId);
        if (followers != null) {
            followers.streams.remove(stream);
            if (followers.streams.isEmpty()) {
                tasks.remove(taskId);
            }
        }
    }

    /** A piece went out whole to a child (the Vortex server says so): the others may hear of it after the relay. */
    public synchronized void sent(String taskId, int piece) {
        TaskFollowers followers = tasks.get(taskId);
        Fresh fresh = followers == null ? null : followers.fresh.get(piece);
        if (fresh != null && fresh.sentNanos == NOT_SENT) {
            fresh.sentNanos = nanoTime.getAsLong();
        }
    }

    private static final long NOT_SENT = Long.MIN_VALUE;

    /**
     * How long {@code stream} should wait before asking again whether to announce {@code piece}: 0 to announce
     * it now.
     *
     * @param justLanded true when the piece is landing now (the task's piece listener), false for a piece the
     *                   stream found stored when it started, or asking again after a delay
     */
    public synchronized long delayNanos(String taskId, Follower stream, int piece, boolean justLanded) {
        TaskFollowers followers = tasks.get(taskId);
        if (followers == null) {
            return 0;
        }
        long now = nanoTime.getAsLong();
        followers.forgetOlderThan(now - holdNanos);
        Fresh fresh = followers.fresh.get(piece);
        if (fresh == null) {
            if (!justLanded || followers.streams.size() < 2 || followers.streams.size() > MAX_CHILDREN) {
                return 0;
            }
            fresh = new Fresh(now, followers.nextWanting(piece));
            followers.fresh.put(piece, fresh);
        }
        if (fresh.first == null || fresh.first == stream) {
            return 0;
        }
        long release = fresh.landedNanos + holdNanos;
        if (fresh.sentNanos != NOT_SENT) {
            release = Math.min(release, fresh.sentNanos + relayNanos);
        }
        // Not sent yet: ask again after one relay at most, since the send may come any moment.
        long wait = Math.max(0, release - now);
        return fresh.sentNanos == NOT_SENT ? Math.min(wait, relayNanos) : wait;
    }

    /** A piece that landed within the hold, the one child it went to at once (null: nobody wanted it), and when it went. */
    private static final class Fresh {
        final long landedNanos;
        final Follower first;
        long sentNanos = NOT_SENT;

        Fresh(long landedNanos, Follower first) {
            this.landedNanos = landedNanos;
            this.first = first;
        }
    }

    private static final class TaskFollowers {
        final List<Follower> streams = new ArrayList<>();
        /** Insertion order is landing order, so forgetting stops at the first piece still fresh. */
        final Map<Integer, Fresh> fresh = new LinkedHashMap<>();
        int cursor;

        /** The next child, in turn, that still wants the piece; null if none does. */
        Follower nextWanting(int piece) {
            for (int i = 0; i < streams.size(); i++) {
                Follower candidate = streams.get((cursor + i) % streams.size());
                if (candidate.wants(piece)) {
                    cursor = (cursor + i + 1) % streams.size();
                    return candidate;
                }
            }
            return null;
        }

        void forgetOlderThan(long cutoffNanos) {
            for (Iterator<Fresh> it = fresh.values().iterator(); it.hasNext(); ) {
                if (it.next().landedNanos - cutoffNanos > 0) {
                    return;
                }
                it.remove();
            }
        }
    }
}
