package dev.pollen.agent.storage;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Test fixture: holds every thread that has just forced a task's content file until closed, standing in
 * for an fsync that takes seconds. Tasks are made "finished" only after that force, so meanwhile a task
 * is complete but not yet durable.
 */
public final class StalledContentSyncs implements AutoCloseable {
    private final CountDownLatch stalled = new CountDownLatch(1);
    private final CountDownLatch released = new CountDownLatch(1);

    public StalledContentSyncs() {
        DurableFiles.observer = (step, path) -> {
            if (step == DurableFiles.Step.FORCE && path.getFileName().toString().equals(StoredTask.CONTENT)) {
                stalled.countDown();
                try {
                    released.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
    }

    /** Waits until some thread is held in the middle of making a task durable. */
    public void awaitStalled(Duration timeout) throws InterruptedException {
        if (!stalled.await(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError("no content sync started within " + timeout);
        }
    }

    @Override
    public void close() {
        DurableFiles.observer = (step, path) -> { };
        released.countDown();
    }
}
