package dev.pollen.agent.task;

import dev.pollen.agent.storage.TaskMetadata;

/** What a caller hears while its download runs, in order: started once, then one call per piece. */
public interface DownloadListener {
    void started(TaskMetadata metadata);

    void pieceReady(ReadyPiece piece);
}
