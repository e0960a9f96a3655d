package dev.pollen.simulator;

import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Piece;
import java.util.List;

/**
 * The scheduler as the simulated agents talk to it: the messages of an AnnouncePeer stream and AnnounceHost, already
 * decoded. The implementation drives the production scheduler's decision code in-process
 * ({@link CoreScheduler}, over {@code dev.pollen.scheduler.SchedulingCore}); nothing here decides anything itself.
 */
public interface SchedulerPort {
    /** What the scheduler answered a RegisterPeer or ReschedulePeer. */
    sealed interface Decision {
        /** NormalTaskResponse: the candidate parents' peer ids, best first. */
        record Parents(List<String> peerIds) implements Decision {
        }

        record BackToSource(String reason) implements Decision {
        }

        /** No answer yet: a seed is being asked ({@code triggerHostId}, or null when asked before); poll again. */
        record Held(String triggerHostId) implements Decision {
        }

        /** Empty or metadata-only answers: not reached by a simulated download of a non-empty file. */
        record Other(String what) implements Decision {
        }
    }

    void announceHost(Host host);

    Decision register(String hostId, String taskId, String peerId, Download download);

    /** A held peer's next poll (the service does this every 100 ms): null while it is still held. */
    Decision pollHeld(String taskId, String peerId);

    Decision reschedule(String peerId, List<String> excludedParentIds);

    void started(String peerId, boolean backToSource);

    void pieceFinished(String peerId, Piece piece, boolean backToSource);

    void pieceFailed(String peerId, String parentId, boolean temporary);

    void finished(String peerId, boolean backToSource);

    /** The peer's stream ended without a finish: the agent died or left. */
    void left(String peerId);
}
