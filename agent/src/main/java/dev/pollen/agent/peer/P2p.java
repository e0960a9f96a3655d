package dev.pollen.agent.peer;

import dev.pollen.policy.ParentRefresh;
import dev.pollen.scheduler.client.SchedulerClient;
import java.time.Duration;

/**
 * What a task needs to download from peers: the scheduler, this host's id, connections to parents,
 * and how long to wait for parents before going to the origin.
 *
 * @param parentWait how long a piece waits for some parent to announce it before rescheduling
 * @param parentRefresh how often a child with too few parents asks for more ({@link ParentRefresh#INTERVAL}; tests
 *     shorten it)
 * @param suspects parents not followed again for a task whose copy from them failed its content digest
 */
public record P2p(SchedulerClient scheduler, String hostId, ParentChannels channels, VortexClient vortex,
                  Duration scheduleTimeout, Duration pieceTimeout, Duration parentWait, Duration parentRefresh,
                  SuspectParents suspects) {
    public P2p(SchedulerClient scheduler, String hostId, ParentChannels channels, VortexClient vortex,
               Duration scheduleTimeout, Duration pieceTimeout, Duration parentWait) {
        this(scheduler, hostId, channels, vortex, scheduleTimeout, pieceTimeout, parentWait, ParentRefresh.INTERVAL);
    }

    public P2p(SchedulerClient scheduler, String hostId, ParentChannels channels, VortexClient vortex,
               Duration scheduleTimeout, Duration pieceTimeout, Duration parentWait, Duration parentRefresh) {
        this(scheduler, hostId, channels, vortex, scheduleTimeout, pieceTimeout, parentWait, parentRefresh, new SuspectParents());
    }
}
