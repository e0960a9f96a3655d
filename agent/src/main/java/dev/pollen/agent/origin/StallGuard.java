package dev.pollen.agent.origin;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A per-read timeout for response bodies, which the JDK's HTTP client lacks (its request timeout ends
 * when the headers arrive): while a caller waits in {@code read} and no byte comes for the stall timeout,
 * the body is closed, which wakes the reader, and the read fails with a {@link SocketTimeoutException}
 * that the retry loop treats like any other timeout. Time the caller spends between reads (writing to
 * disk) does not count. One daemon thread watches every open body.
 */
public final class StallGuard {
    private static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("origin-stall-watchdog").daemon().factory());

    private final Duration stall;
    private final long periodNanos;

    public StallGuard(Duration stall) {
        this.stall = stall;
        // Checked a few times per timeout: a stall is cut within about a quarter of the timeout past it.
        this.periodNanos = Math.clamp(stall.toNanos() / 4, TimeUnit.MILLISECONDS.toNanos(10), TimeUnit.SECONDS.toNanos(1));
    }

    public InputStream guard(InputStream body, URI uri) {
        return new Guarded(body, uri);
    }

    private final class Guarded extends FilterInputStream {
        private final URI uri;
        private final ScheduledFuture<?> check;
        /** When the pending read began (nanoTime), 0 outside a read. */
        private volatile long readingSince;
        private volatile boolean stalled;

        Guarded(InputStream in, URI uri) {
            super(in);
            this.uri = uri;
            this.check = WATCHDOG.scheduleAtFixedRate(this::check, periodNanos, periodNanos, TimeUnit.NANOSECONDS);
        }

        private void check() {
            long since = readingSince;
            if (since != 0 && System.nanoTime() - since > stall.toNanos()) {
                stalled = true;
                closeQuietly();
            }
        }

        @Override
        public int read() throws IOException {
            begin();
            try {
                return super.read();
            } catch (IOException e) {
                throw translated(e);
            } finally {
                readingSince = 0;
            }
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            begin();
            try {
                return super.read(b, off, len);
            } catch (IOException e) {
                throw translated(e);
            } finally {
                readingSince = 0;
            }
        }

        @Override
        public long skip(long n) throws IOException {
            begin();
            try {
                return super.skip(n);
            } catch (IOException e) {
                throw translated(e);
            } finally {
                readingSince = 0;
            }
        }

        private void begin() throws IOException {
            if (stalled) {
                throw timeout();
            }
            readingSince = System.nanoTime();
        }

        private IOException translated(IOException e) {
            return stalled ? timeout() : e;
        }

        private SocketTimeoutException timeout() {
            return new SocketTimeoutException("origin " + uri + " sent no bytes for " + stall.toMillis()
                    + " ms (download.pieceTimeout)");
        }

        private void closeQuietly() {
            try {
                close();
            } catch (IOException ignored) {
                // closing only drops the connection
            }
        }

        @Override
        public void close() throws IOException {
            check.cancel(false);
            super.close();
        }
    }
}
