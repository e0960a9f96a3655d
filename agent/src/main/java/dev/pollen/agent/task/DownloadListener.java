package dev.pollen.agent.task;

import dev.pollen.agent.storage.TaskMetadata;

/** What a caller hears while its download runs, in order: started once, then one call per piece. */
public interface DownloadListener {
    /**
     * The peer id the task is registered under with the scheduler, heard before {@link #started} when the task
     * has one: Dragonfly's dfdaemon answers each download with the peer id its scheduler knows.
     */
    default void registeredAs(String peerId) {
    }

    void started(TaskMetadata metadata);

    void pieceReady(ReadyPiece piece);
}
