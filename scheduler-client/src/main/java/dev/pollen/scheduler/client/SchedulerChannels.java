package dev.pollen.scheduler.client;

import dev.pollen.tls.MutualTls;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;

/**
 * The one way a node connects to a scheduler: the daemon's {@link SchedulerClient} and {@code dfdaemon preheat} both
 * open their channels here, so that a scheduler under mutual TLS ({@code scheduler.tls}) is reached the same way by both.
 */
public final class SchedulerChannels {
    private SchedulerChannels() {
    }

    /**
     * A channel to {@code target} ({@code host:port}), over mutual TLS with {@code tls}'s certificate, or plaintext
     * when {@code tls} is null.
     */
    public static ManagedChannel open(String target, MutualTls tls) {
        NettyChannelBuilder b = NettyChannelBuilder.forTarget(target);
        return (tls == null ? b.usePlaintext() : b.sslContext(tls.grpcClient())).build();
    }
}
