package dev.pollen.scheduler;

/**
 * The costs of the last pieces a peer downloaded, and Dragonfly's test whether the latest one marks it a slow
 * parent (dragonflyoss/dragonfly scheduler/scheduling/evaluator/evaluator.go, IsBadParent): with fewer than
 * {@value #WINDOW} samples, the last cost above 20 times the mean of the others; with a full window, above the
 * mean plus three standard deviations. Running sums keep the test O(1): it runs for every candidate of every
 * decision. Guarded by the {@link Cluster} lock.
 */
final class PieceCosts {
    /** Dragonfly's rolling window of piece costs per peer (peer.go). */
    static final int WINDOW = 2000;

    private final long[] nanos = new long[WINDOW];
    private int count;
    private int next;
    private double sum;
    private double squares;

    void add(long costNanos) {
        if (count == WINDOW) {
            long dropped = nanos[next];
            sum -= dropped;
            squares -= (double) dropped * dropped;
        } else {
            count++;
        }
        nanos[next] = costNanos;
        next = (next + 1) % WINDOW;
        sum += costNanos;
        squares += (double) costNanos * costNanos;
    }

    boolean lastIsSlow() {
        if (count < 2) {
            return false;
        }
        long last = nanos[(next - 1 + WINDOW) % WINDOW];
        if (count < WINDOW) {
            return last > (sum - last) / (count - 1) * 20;
        }
        double mean = sum / count;
        double variance = Math.max(0, squares / count - mean * mean);
        return last > mean + 3 * Math.sqrt(variance);
    }
}
