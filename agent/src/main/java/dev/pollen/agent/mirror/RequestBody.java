package dev.pollen.agent.mirror;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.LastHttpContent;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A request's body as it arrives, read by the request's thread as a stream while the client still sends it: a push
 * of a layer through the proxy is never held whole. The event loop queues each chunk; the socket is read again only
 * while fewer than {@link #WINDOW} bytes wait, so a client sends no faster than the registry takes its bytes. A
 * client that goes silent mid-body for the idle timeout makes the read fail.
 */
final class RequestBody extends InputStream {
    /** A body the client cut short, stalled or malformed: the client's fault, answered with {@link #status}. */
    static final class ClientFault extends IOException {
        final HttpResponseStatus status;

        ClientFault(HttpResponseStatus status, String message) {
            super(message);
            this.status = status;
        }

        /** The fault somewhere in {@code e}'s causes (the registry's client wraps what the body threw), or null. */
        static ClientFault in(Throwable e) {
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof ClientFault f) {
                    return f;
                }
            }
            return null;
        }
    }

    /** Bytes queued at most before the socket is no longer read. */
    static final int WINDOW = 1 << 20;

    private final ChannelHandlerContext ctx;
    private final Duration idleTimeout;
    private final long length;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition arrived = lock.newCondition();
    private final ArrayDeque<ByteBuf> chunks = new ArrayDeque<>();
    private long queued;
    private boolean ended;
    private boolean paused;
    private boolean closed;
    /** Why the body cannot be read to its end: the client sent a malformed one. */
    private Throwable malformed;

    /** @param length the body's length, -1 when sent chunked; 0 for a request without a body (ended at once) */
    RequestBody(ChannelHandlerContext ctx, Duration idleTimeout, long length) {
        this.ctx = ctx;
        this.idleTimeout = idleTimeout;
        this.length = length;
        this.ended = length == 0;
    }

    /** The length announced by the client; -1 for a chunked body. */
    long length() {
        return length;
    }

    /** On the event loop: a chunk of the body (retained here until read). */
    void offer(HttpContent content) {
        lock.lock();
        try {
            if (ended || closed) {
                return;
            }
            if (content.decoderResult().isFailure()) {
                malformed = content.decoderResult().cause();
                ended = true;
                arrived.signalAll();
                return;
            }
            ByteBuf bytes = content.content();
            if (bytes.isReadable()) {
                chunks.add(bytes.retain());
                queued += bytes.readableBytes();
            }
            ended = content instanceof LastHttpContent;
            arrived.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** On the event loop, after a read from the socket: reads again while the body has room, else pauses. */
    void readComplete() {
        boolean more;
        lock.lock();
        try {
            more = !ended && !closed && queued < WINDOW;
            paused = !ended && !closed && !more;
        } finally {
            lock.unlock();
        }
        if (more) {
            ctx.read();
        }
    }

    /** Whether the client has sent the whole body, well formed (the connection can carry its next request). */
    boolean complete() {
        lock.lock();
        try {
            return ended && malformed == null;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] into, int offset, int count) throws IOException {
        if (count == 0) {
            return 0;
        }
        boolean resume = false;
        int n;
        lock.lock();
        try {
            long deadline = System.nanoTime() + idleTimeout.toNanos();
            while (chunks.isEmpty() && !ended && !closed) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new ClientFault(HttpResponseStatus.REQUEST_TIMEOUT, "the client sent no more of its request body for "
                            + idleTimeout + " (fix: send it without pauses, or raise proxy.server.idleTimeout)");
                }
                arrived.awaitNanos(left);
            }
            if (closed) {
                throw new IOException("request body closed");
            }
            if (chunks.isEmpty()) {
                if (malformed != null) {
                    throw new ClientFault(HttpResponseStatus.BAD_REQUEST, "malformed request body: " + malformed.getMessage());
                }
                return -1;
            }
            ByteBuf head = chunks.peek();
            n = Math.min(count, head.readableBytes());
            head.readBytes(into, offset, n);
            queued -= n;
            if (!head.isReadable()) {
                chunks.poll().release();
            }
            if (paused && queued < WINDOW / 2) {
                paused = false;
                resume = true;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while reading the request body", e);
        } finally {
            lock.unlock();
        }
        if (resume) {
            ctx.executor().execute(ctx::read);
        }
        return n;
    }

    /** Lets go of what was not read; chunks that arrive later are dropped. */
    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
            chunks.forEach(ByteBuf::release);
            chunks.clear();
            queued = 0;
            arrived.signalAll();
        } finally {
            lock.unlock();
        }
    }
}
