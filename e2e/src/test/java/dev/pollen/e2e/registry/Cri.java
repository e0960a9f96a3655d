package dev.pollen.e2e.registry;

import dev.pollen.e2e.cri.v1.AuthConfig;
import dev.pollen.e2e.cri.v1.Image;
import dev.pollen.e2e.cri.v1.ImageServiceGrpc;
import dev.pollen.e2e.cri.v1.ImageSpec;
import dev.pollen.e2e.cri.v1.ImageStatusRequest;
import dev.pollen.e2e.cri.v1.ImageStatusResponse;
import dev.pollen.e2e.cri.v1.PullImageRequest;
import dev.pollen.e2e.cri.v1.RemoveImageRequest;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * containerd's CRI image service as kubelet calls it: gRPC {@code runtime.v1.ImageService} on containerd's
 * socket. The CRI plugin pulls in the daemon itself, reads {@code hosts.toml} from its {@code config_path}
 * and keeps its images in the {@code k8s.io} namespace. Calls fail with {@link io.grpc.StatusRuntimeException}
 * as containerd answers them (a failed pull is {@code UNKNOWN} with containerd's message).
 */
public final class Cri implements AutoCloseable {
    private static final Duration PULL_DEADLINE = Duration.ofSeconds(120);

    private final ManagedChannel channel;
    private final EventLoopGroup loop;
    private final ImageServiceGrpc.ImageServiceBlockingStub images;

    Cri(Path socket) {
        this.loop = new EpollEventLoopGroup(1);
        this.channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toFile()))
                .channelType(EpollDomainSocketChannel.class)
                .eventLoopGroup(loop)
                .usePlaintext()
                .build();
        this.images = ImageServiceGrpc.newBlockingStub(channel);
    }

    /** {@code PullImage}: the pulled image's id (its config digest, not its manifest digest). */
    public String pull(String ref, Optional<Registry.Credentials> credentials) {
        PullImageRequest.Builder request = PullImageRequest.newBuilder().setImage(spec(ref));
        credentials.ifPresent(c -> request.setAuth(AuthConfig.newBuilder().setUsername(c.user()).setPassword(c.password())));
        return images.withDeadlineAfter(PULL_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)
                .pullImage(request.build()).getImageRef();
    }

    /** {@code ImageStatus}: the image as the CRI knows it, empty if it has none by that reference. */
    public Optional<Image> status(String ref) {
        ImageStatusResponse response = images.withDeadlineAfter(30, TimeUnit.SECONDS)
                .imageStatus(ImageStatusRequest.newBuilder().setImage(spec(ref)).build());
        return response.hasImage() ? Optional.of(response.getImage()) : Optional.empty();
    }

    /**
     * The manifest digest the CRI recorded for {@code ref} (from its {@code repo_digests},
     * {@code NAME@sha256:...}), empty if it has no such image.
     */
    public Optional<String> manifestDigest(String ref) {
        String repository = ref.substring(0, ref.lastIndexOf(':') > ref.lastIndexOf('/') ? ref.lastIndexOf(':') : ref.length());
        return status(ref).flatMap(image -> image.getRepoDigestsList().stream()
                .filter(d -> d.startsWith(repository + "@"))
                .map(d -> d.substring(d.indexOf('@') + 1))
                .findFirst());
    }

    /** {@code RemoveImage}; a later pull fetches everything again once containerd's GC has run (it does at once). */
    public void remove(String ref) {
        images.withDeadlineAfter(30, TimeUnit.SECONDS).removeImage(RemoveImageRequest.newBuilder().setImage(spec(ref)).build());
    }

    private static ImageSpec spec(String ref) {
        return ImageSpec.newBuilder().setImage(ref).build();
    }

    @Override
    public void close() {
        channel.shutdownNow();
        try {
            channel.awaitTermination(10, TimeUnit.SECONDS);
            loop.shutdownGracefully(0, 0, TimeUnit.SECONDS).await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
