package dev.pollen.agent.task;

/**
 * Why a task (or a piece of it) is fetched from the origin instead of from peers: logged once per fallback as
 * {@code event=back_to_source reason=<token>}, so a user can tell a healthy first download from a broken swarm.
 */
public enum BackToSourceReason {
    /** No scheduler is configured: every download goes to the origin. */
    NO_SCHEDULER("no_scheduler"),
    /** No scheduler answered the registration in time. */
    SCHEDULER_UNAVAILABLE("scheduler_unavailable"),
    /** The scheduler answered NeedBackToSource (no peer holds the task yet, or the download asked for the origin). */
    SCHEDULER_DECIDED("scheduler_decided"),
    /** The scheduler called the task empty but the origin gave it a length: the origin is believed. */
    EMPTY_TASK_CONTRADICTS_ORIGIN("empty_task_contradicts_origin"),
    /** The scheduler named parents, but none of them could say how long the task is. */
    NO_PARENT_KNOWS_LENGTH("no_parent_knows_length"),
    /** The parents could not deliver a piece, and the scheduler named no others. */
    NO_PARENT_DELIVERED("no_parent_delivered");

    private final String token;

    BackToSourceReason(String token) {
        this.token = token;
    }

    /** The value of the log line's {@code reason=}. */
    public String token() {
        return token;
    }
}
