package dev.pollen.agent.cli;

import dev.pollen.agent.config.ByteSize;
import java.io.PrintStream;
import java.time.Duration;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * dfget's progress report. On a terminal: one bar redrawn in place (bytes, rate, ETA, and how much
 * came from the origin, from peers and from the local cache). Elsewhere: a plain line every 10%.
 * Always a summary line at the end.
 */
final class Progress {
    private static final long REDRAW_NANOS = 200_000_000L;

    private final PrintStream out;
    private final boolean terminal;
    private final boolean enabled;
    private final LongSupplier nanoTime;
    private final long startNanos;
    private long total = -1;
    private long done;
    private long fromOrigin;
    private long fromPeers;
    private long fromLocal;
    private long lastDrawNanos;
    private int lastDecile = -1;

    Progress(PrintStream out, boolean terminal, boolean enabled, LongSupplier nanoTime) {
        this.out = out;
        this.terminal = terminal;
        this.enabled = enabled;
        this.nanoTime = nanoTime;
        this.startNanos = nanoTime.getAsLong();
    }

    void started(long contentLength) {
        total = contentLength;
    }

    enum Source { ORIGIN, PEER, LOCAL }

    void piece(long length, Source source) {
        done += length;
        switch (source) {
            case ORIGIN -> fromOrigin += length;
            case PEER -> fromPeers += length;
            case LOCAL -> fromLocal += length;
        }
        if (!enabled) {
            return;
        }
        long now = nanoTime.getAsLong();
        if (terminal) {
            if (now - lastDrawNanos >= REDRAW_NANOS || done == total) {
                lastDrawNanos = now;
                out.print("\r" + bar(now) + "\033[K");
                out.flush();
            }
        } else if (total > 0) {
            int decile = (int) (done * 10 / total);
            if (decile > lastDecile) {
                lastDecile = decile;
                out.println(line(now));
            }
        }
    }

    long bytesFromOrigin() {
        return fromOrigin;
    }

    long bytesFromPeers() {
        return fromPeers;
    }

    /** The closing line; printed even with --no-progress so scripts can read the traffic split. */
    String summary() {
        long elapsed = nanoTime.getAsLong() - startNanos;
        return String.format(Locale.ROOT, "downloaded %s in %s (%s/s): origin %s, peers %s, local cache %s",
                ByteSize.human(done), seconds(elapsed), ByteSize.human(rate(done, elapsed)),
                ByteSize.human(fromOrigin), ByteSize.human(fromPeers), ByteSize.human(fromLocal));
    }

    void finish() {
        if (enabled && terminal) {
            out.print("\r\033[K");
        }
    }

    private String bar(long now) {
        int width = 30;
        int filled = total > 0 ? (int) (done * width / total) : 0;
        return "[" + "#".repeat(filled) + " ".repeat(width - filled) + "] " + line(now);
    }

    private String line(long now) {
        long elapsed = now - startNanos;
        long rate = rate(done, elapsed);
        String eta = total > 0 && rate > 0 ? seconds((total - done) * 1_000_000_000L / rate) : "?";
        String percent = total > 0 ? String.format(Locale.ROOT, "%3d%% ", done * 100 / total) : "";
        return String.format(Locale.ROOT, "%s%s/%s %s/s ETA %s (origin %s, peers %s)", percent, ByteSize.human(done),
                total >= 0 ? ByteSize.human(total) : "?", ByteSize.human(rate), eta, ByteSize.human(fromOrigin),
                ByteSize.human(fromPeers));
    }

    private static long rate(long bytes, long nanos) {
        return nanos <= 0 ? 0 : (long) (bytes / (nanos / 1e9));
    }

    private static String seconds(long nanos) {
        return String.format(Locale.ROOT, "%.2fs", Duration.ofNanos(nanos).toMillis() / 1000.0);
    }
}
