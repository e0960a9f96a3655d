package dev.pollen.agent.upload.vortex;

import io.netty.channel.DefaultFileRegion;
import java.nio.channels.FileChannel;

/**
 * A zero-copy region of a content file whose channel belongs to someone else (the task, which many
 * uploads share). {@link DefaultFileRegion} closes its channel when released; this one leaves it open.
 * Epoll's sendfile path recognises it as a {@code DefaultFileRegion}, NIO uses {@code transferTo}.
 */
final class SharedFileRegion extends DefaultFileRegion {
    SharedFileRegion(FileChannel file, long position, long count) {
        super(file, position, count);
    }

    @Override
    protected void deallocate() {
        // The channel is the task's; its owner closes it.
    }
}
