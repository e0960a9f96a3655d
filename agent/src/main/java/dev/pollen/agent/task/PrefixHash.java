package dev.pollen.agent.task;

import dev.pollen.agent.storage.ContentDigest;
import dev.pollen.agent.storage.OutputWriter;
import dev.pollen.agent.storage.StoredTask;
import dev.pollen.agent.storage.TaskMetadata;
import java.io.IOException;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A blob's digest over the contiguous prefix of its landed pieces, advanced as pieces land by whichever piece thread
 * finds it free, so that once the last piece is in only the rest is left to hash. Hashing the whole blob after its
 * last piece held the blob's last byte (and the task's completion) back by its size over the hash's speed: SHA-256
 * under C1 runs at ~120 MB/s (BENCHMARKS.md, registry mirror). A piece is verified on its own before it is recorded
 * and never rewritten after, so the bytes hashed stay the blob's.
 */
final class PrefixHash {
    private final StoredTask store;
    private final ReentrantLock lock = new ReentrantLock();
    private final ContentDigest.Hasher hasher;
    private int next;
    private String value;

    PrefixHash(StoredTask store, ContentDigest digest) {
        this.store = store;
        this.hasher = digest.hasher();
    }

    /** Whether this hashes {@code content} (a task whose store was made anew needs a hash of its own). */
    boolean hashes(StoredTask content) {
        return store == content;
    }

    /** Hashes the landed prefix, unless another thread is at it now (it hashes what landed meanwhile too, or finish does). */
    void advance() throws IOException {
        if (!lock.tryLock()) {
            return;
        }
        try {
            hashLanded();
        } finally {
            lock.unlock();
        }
    }

    /** The digest of the whole content, once every piece is in (the same answer if asked again). */
    String finish() throws IOException {
        lock.lock();
        try {
            if (value == null) {
                hashLanded();
                TaskMetadata meta = store.metadata();
                if (next != meta.pieceCount()) {
                    throw new IOException("task " + store.taskId() + " has no piece " + next + " to hash");
                }
                value = hasher.value();
            }
            return value;
        } finally {
            lock.unlock();
        }
    }

    private void hashLanded() throws IOException {
        if (value != null) {
            return;
        }
        TaskMetadata meta = store.metadata();
        long pieceLength = meta.pieceLength();
        long length = meta.contentLength();
        while (next < meta.pieceCount() && store.piece(next) != null) {
            long offset = next * pieceLength;
            OutputWriter.update(store, offset, Math.min(pieceLength, length - offset), hasher);
            next++;
        }
    }
}
