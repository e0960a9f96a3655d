package dev.pollen.agent.origin;

import dev.pollen.agent.storage.BufferedBody;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.EventExecutor;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One GET's answer on an origin connection: its status and headers, then its body as a stream read on the caller's
 * thread, or handed over in the buffers it arrived in ({@link BufferedBody}). The connection's event loop queues the
 * bytes it receives; past {@link #HIGH_WATER} unread bytes it stops reading the socket (TCP then slows the origin
 * down), and the reader turns reading back on below {@link #LOW_WATER}. A read that waits longer than the read
 * timeout ({@code download.pieceTimeout}) for a byte fails with a {@link SocketTimeoutException}, which the retry
 * loop treats like any timeout; time the caller spends between reads (writing to disk) does not count. A body read
 * to its end gives its connection back to the pool when the origin keeps it alive; a body closed before its end
 * closes the connection.
 */
final class OriginExchange extends InputStream implements BufferedBody {
    /**
     * Unread bytes past which the loop stops reading (plus one socket read, at most 64 KiB): the buffers are direct
     * memory, which the daemon caps (-XX:MaxDirectMemorySize=64m in bin/dfdaemon) for every connection it has.
     */
    private static final int HIGH_WATER = 256 * 1024;
    private static final int LOW_WATER = 64 * 1024;
    private static final int WAKE_BYTES = 128 * 1024;
    private static final long WAKE_DELAY_MICROS = 10_000;

    private final OriginConnections owner;
    private final OriginConnections.Route route;
    private final Channel channel;
    private final URI uri;
    private final Duration readTimeout;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final ArrayDeque<ByteBuf> queue = new ArrayDeque<>();
    private HttpResponse head;
    private Throwable failure;
    /** The body's last byte is in the queue. */
    private boolean ended;
    private boolean closed;
    /** The reader was told the body ended: it hears so again, however often it asks. */
    private boolean readToEnd;
    private boolean paused;
    /** A delayed wake-up of the reader is pending (touched on the event loop only). */
    private boolean wakeScheduled;
    private long queued;

    OriginExchange(OriginConnections owner, OriginConnections.Route route, Channel channel, URI uri, Duration readTimeout) {
        this.owner = owner;
        this.route = route;
        this.channel = channel;
        this.uri = uri;
        this.readTimeout = readTimeout;
    }

    /** The connection failed before any answer came: the request may be sent again on another one. */
    static final class ClosedBeforeAnswer extends IOException {
        ClosedBeforeAnswer(String message, Throwable cause) {
            super(message, cause);
        }
    }

    int status() {
        return head.status().code();
    }

    HttpHeaders headers() {
        return head.headers();
    }

    /** Waits for the status and headers, up to the read timeout. */
    void awaitHead() throws IOException {
        long left = readTimeout.toNanos();
        lock.lock();
        try {
            while (head == null && failure == null) {
                if (left <= 0) {
                    break;
                }
                left = changed.awaitNanos(left);
            }
            if (head == null && failure != null) {
                throw new ClosedBeforeAnswer("origin " + uri + " closed the connection before answering: " + failure, failure);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            channel.close();
            throw new InterruptedIOException("interrupted while waiting for " + uri);
        } finally {
            lock.unlock();
        }
        if (head == null) {
            channel.close();
            throw new HttpTimeoutException("no answer within " + readTimeout.toMillis() + " ms");
        }
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    /** As much as is queued, up to {@code len}: one call, one write to disk for several socket reads. */
    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        if (len == 0) {
            return 0;
        }
        int[] copied = {0};
        long n = drain(len, bytes -> {
            int part = bytes.remaining();
            bytes.get(b, off + copied[0], part);
            copied[0] += part;
        });
        return (int) n;
    }

    /** As much as is queued, up to {@code max}, in the buffers the loop read it into; the sink runs off the lock. */
    @Override
    public long drain(long max, Sink sink) throws IOException {
        if (max <= 0) {
            return 0;
        }
        List<ByteBuf> taken = new ArrayList<>();
        long n = 0;
        lock.lock();
        try {
            if (!awaitBytes()) {
                n = -1;
            } else {
                for (ByteBuf first; n < max && (first = queue.peekFirst()) != null; ) {
                    int part = (int) Math.min(max - n, first.readableBytes());
                    taken.add(part == first.readableBytes() ? queue.pollFirst() : first.readRetainedSlice(part));
                    n += part;
                }
                taken(n);
            }
        } finally {
            lock.unlock();
        }
        if (n < 0) {
            finish();
            return -1;
        }
        try {
            for (ByteBuf bytes : taken) {
                for (ByteBuffer part : bytes.nioBuffers()) {
                    sink.accept(part);
                }
            }
        } finally {
            taken.forEach(ByteBuf::release);
        }
        return n;
    }

    /**
     * Waits, under the lock, until bytes are queued or the body ended; false at its end. Fails when the origin sent
     * nothing for the read timeout, when the connection failed or when the body was closed.
     */
    private boolean awaitBytes() throws IOException {
        try {
            long left = readTimeout.toNanos();
            while (queue.isEmpty() && !ended && failure == null && !closed) {
                if (left <= 0) {
                    channel.close();
                    throw new SocketTimeoutException("origin " + uri + " sent no bytes for " + readTimeout.toMillis()
                            + " ms (download.pieceTimeout)");
                }
                left = changed.awaitNanos(left);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            channel.close();
            throw new InterruptedIOException("interrupted while reading " + uri);
        }
        if (closed) {
            if (readToEnd) {
                return false;
            }
            throw new IOException("body of " + uri + " was closed");
        }
        if (!queue.isEmpty()) {
            return true;
        }
        if (ended) {
            readToEnd = true;
            return false;
        }
        throw failure instanceof IOException io ? new IOException(io.getMessage(), io)
                : new IOException("reading from " + uri + " failed: " + failure, failure);
    }

    /** The reader took {@code n} bytes off the queue, under the lock: the loop reads again once few are left. */
    private void taken(long n) {
        queued -= n;
        if (paused && queued <= LOW_WATER) {
            paused = false;
            channel.config().setAutoRead(true);
        }
    }

    @Override
    public int available() {
        lock.lock();
        try {
            return (int) Math.min(Integer.MAX_VALUE, queued);
        } finally {
            lock.unlock();
        }
    }

    /** The connection goes back to the pool when the whole body was read and the origin keeps it alive. */
    @Override
    public void close() {
        finish();
    }

    private void finish() {
        boolean reusable;
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            reusable = ended && queue.isEmpty() && failure == null && head != null && HttpUtil.isKeepAlive(head);
            queue.forEach(ByteBuf::release);
            queue.clear();
            queued = 0;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        if (reusable) {
            channel.config().setAutoRead(true);
            owner.release(route, channel);
        } else {
            channel.close();
        }
    }

    // ---- called on the connection's event loop ----

    private void answered(HttpResponse response) {
        signal(() -> head = response);
    }

    /** Takes ownership of {@code bytes}. */
    private void content(ByteBuf bytes, boolean last) {
        lock.lock();
        try {
            if (closed) {
                bytes.release();
            } else {
                if (bytes.isReadable()) {
                    queue.addLast(bytes);
                    queued += bytes.readableBytes();
                } else {
                    bytes.release();
                }
                ended = last;
                if (!paused && queued >= HIGH_WATER) {
                    // Under the lock, as the reader's turning it back on is: the two never cross.
                    paused = true;
                    channel.config().setAutoRead(false);
                    changed.signalAll();
                }
            }
            if (last) {
                changed.signalAll();
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * The end of one read from the socket. The reader is woken at once when {@link #WAKE_BYTES} are waiting, else
     * within {@link #WAKE_DELAY_MICROS}: on a link shared by many connections each read brings a few KiB, and waking
     * the reader for each (a virtual thread's unpark, a write to disk) cost more CPU than the bytes' copies.
     */
    private void readComplete(EventExecutor loop) {
        lock.lock();
        boolean now;
        try {
            now = queued >= WAKE_BYTES;
            if (now) {
                changed.signalAll();
            }
        } finally {
            lock.unlock();
        }
        if (!now && !wakeScheduled) {
            wakeScheduled = true;
            loop.schedule(() -> {
                wakeScheduled = false;
                signal(() -> { });
            }, WAKE_DELAY_MICROS, TimeUnit.MICROSECONDS);
        }
    }

    void failed(Throwable cause) {
        signal(() -> {
            if (!ended && failure == null) {
                failure = cause;
            }
        });
    }

    private void signal(Runnable change) {
        lock.lock();
        try {
            change.run();
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** A connection's one handler after the HTTP codec: hands what arrives to the exchange under way. */
    static final class Handler extends ChannelInboundHandlerAdapter {
        private volatile OriginExchange current;
        /** Inside an interim (1xx) answer, whose end is not the body's. */
        private boolean interim;

        void begin(OriginExchange exchange) {
            current = exchange;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            OriginExchange exchange = current;
            if (exchange == null) {
                // Bytes on an idle connection answer nothing we asked: the connection is not to be trusted.
                ReferenceCountUtil.release(msg);
                ctx.close();
                return;
            }
            if (msg instanceof HttpObject object && object.decoderResult().isFailure()) {
                ReferenceCountUtil.release(msg);
                current = null;
                exchange.failed(new IOException("malformed answer: " + object.decoderResult().cause().getMessage(),
                        object.decoderResult().cause()));
                ctx.close();
                return;
            }
            if (msg instanceof HttpResponse response) {
                int code = response.status().code();
                interim = code >= 100 && code < 200 && code != 101;
                if (!interim) {
                    exchange.answered(response);
                }
            }
            if (msg instanceof HttpContent content) {
                boolean last = content instanceof LastHttpContent;
                if (interim) {
                    content.release();
                    interim = !last;
                    return;
                }
                if (last) {
                    current = null;
                }
                exchange.content(content.content(), last);
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            OriginExchange exchange = current;
            if (exchange != null) {
                exchange.readComplete(ctx.executor());
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            OriginExchange exchange = current;
            current = null;
            if (exchange != null) {
                exchange.failed(new EOFException("origin closed the connection"));
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            OriginExchange exchange = current;
            current = null;
            if (exchange != null) {
                exchange.failed(cause);
            }
            ctx.close();
        }
    }
}
