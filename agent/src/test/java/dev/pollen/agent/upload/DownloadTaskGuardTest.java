package dev.pollen.agent.upload;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pollen.agent.config.Cidr;
import dev.pollen.agent.origin.HostResolver;
import dev.pollen.agent.origin.OriginAddressPolicy;
import dev.pollen.policy.SuperSeeding;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.dfdaemon.v2.DfdaemonDownloadGrpc;
import dev.pollen.proto.dfdaemon.v2.DfdaemonUploadGrpc;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskRequest;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskResponse;
import dev.pollen.proto.dfdaemon.v2.StatTaskRequest;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * DownloadTask over a real gRPC server on 127.0.0.1 (so every call here comes from 127.0.0.1): served to
 * this node's schedulers only, on a non-seed only with preheat accepted, and never for a denied origin.
 */
class DownloadTaskGuardTest {
    /** What reached the real download service: nothing, for every refused call. */
    private final List<String> downloads = new CopyOnWriteArrayList<>();
    private final List<String> resolved = new CopyOnWriteArrayList<>();
    private final List<UploadGrpcServer> servers = new ArrayList<>();
    private final List<ManagedChannel> channels = new ArrayList<>();
    private ScheduledExecutorService timer;
    private ExecutorService calls;

    @BeforeEach
    void setUp() {
        timer = Executors.newSingleThreadScheduledExecutor();
        calls = Executors.newVirtualThreadPerTaskExecutor();
    }

    @AfterEach
    void tearDown() throws Exception {
        channels.forEach(ManagedChannel::shutdownNow);
        servers.forEach(UploadGrpcServer::close);
        timer.shutdownNow();
        calls.close();
    }

    /** A cluster's DNS: the scheduler's name, a metadata name and an origin; address literals stand for themselves. */
    private InetAddress[] resolve(String host) throws UnknownHostException {
        resolved.add(host);
        return switch (host) {
            case "scheduler.pollen" -> new InetAddress[] {InetAddress.getByName("10.0.0.5"), InetAddress.getByName("127.0.0.1")};
            case "metadata.google.internal" -> new InetAddress[] {InetAddress.getByName("169.254.169.254")};
            case "origin.example" -> new InetAddress[] {InetAddress.getByName("203.0.113.7")};
            default -> {
                if (!host.matches("[0-9a-fA-F.:\\[\\]]+")) {
                    throw new UnknownHostException(host);
                }
                yield InetAddress.getAllByName(host);
            }
        };
    }

    /** A node with these schedulers and extra callers; its download service only records the url it was asked for. */
    private DfdaemonUploadGrpc.DfdaemonUploadBlockingStub node(boolean seed, boolean acceptPreheat, List<String> schedulers,
                                                               List<String> allowedClients) throws Exception {
        DfdaemonDownloadGrpc.DfdaemonDownloadImplBase recorder = new DfdaemonDownloadGrpc.DfdaemonDownloadImplBase() {
            @Override
            public void downloadTask(DownloadTaskRequest request, StreamObserver<DownloadTaskResponse> responses) {
                downloads.add(request.getDownload().getUrl());
                responses.onNext(DownloadTaskResponse.newBuilder().setHostId("node").setTaskId("t").setPeerId("p").build());
                responses.onCompleted();
            }
        };
        HostResolver dns = this::resolve;
        OriginAddressPolicy origins = new OriginAddressPolicy(List.of(Cidr.parse("169.254.0.0/16"), Cidr.parse("fe80::/10")), dns);
        DfdaemonUploadService service = new DfdaemonUploadService(null, recorder, origins, "127.0.0.1", 4005, null, timer,
                Duration.ofSeconds(5), Duration.ofHours(1), SuperSeeding.OFF);
        SchedulerAllowList callers = new SchedulerAllowList(schedulers, allowedClients.stream().map(Cidr::parse).toList(), dns);
        UploadGrpcServer server = UploadGrpcServer.start(new InetSocketAddress("127.0.0.1", 0), service,
                new DownloadTaskGuard(seed, acceptPreheat, callers), calls, 1, UploadGrpcServer.KeepAlive.DEFAULT, null);
        servers.add(server);
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
        channels.add(channel);
        return DfdaemonUploadGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
    }

    private static List<DownloadTaskResponse> download(DfdaemonUploadGrpc.DfdaemonUploadBlockingStub node, String url) {
        List<DownloadTaskResponse> out = new ArrayList<>();
        Iterator<DownloadTaskResponse> it = node.downloadTask(DownloadTaskRequest.newBuilder()
                .setDownload(Download.newBuilder().setUrl(url)).build());
        it.forEachRemaining(out::add);
        return out;
    }

    private static StatusRuntimeException refused(DfdaemonUploadGrpc.DfdaemonUploadBlockingStub node, String url) {
        try {
            download(node, url);
        } catch (StatusRuntimeException e) {
            return e;
        }
        throw new AssertionError("DownloadTask of " + url + " was served");
    }

    @Test
    void servesTheSchedulerItsNameResolvesTo() throws Exception {
        // scheduler.pollen resolves to two addresses (a headless Service): the caller is one of them.
        var seed = node(true, false, List.of("scheduler.pollen:8002"), List.of());

        assertThat(download(seed, "http://origin.example/blob")).hasSize(1);
        assertThat(downloads).containsExactly("http://origin.example/blob");
    }

    @Test
    void refusesACallerThatIsNotOneOfItsSchedulers() throws Exception {
        var seed = node(true, false, List.of("127.0.0.2:8002"), List.of());

        StatusRuntimeException e = refused(seed, "http://origin.example/blob");

        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
        assertThat(e.getStatus().getDescription()).contains("127.0.0.1", "127.0.0.2", "upload.downloadTask.allowedClients");
        assertThat(downloads).isEmpty();
    }

    @Test
    void servesTheConfiguredExtraCallersOnly() throws Exception {
        assertThat(download(node(true, false, List.of("10.0.0.9:8002"), List.of("127.0.0.0/8")), "http://origin.example/a"))
                .hasSize(1);
        assertThat(refused(node(true, false, List.of("10.0.0.9:8002"), List.of("10.0.0.0/8")), "http://origin.example/b")
                .getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
        assertThat(downloads).containsExactly("http://origin.example/a");
    }

    @Test
    void aNodeThatIsNotASeedRefusesEvenItsSchedulerUnlessItAcceptsPreheat() throws Exception {
        StatusRuntimeException e = refused(node(false, false, List.of("127.0.0.1:8002"), List.of()), "http://origin.example/a");
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
        assertThat(e.getStatus().getDescription()).contains("upload.downloadTask.acceptPreheat");
        assertThat(downloads).isEmpty();

        assertThat(download(node(false, true, List.of("127.0.0.1:8002"), List.of()), "http://origin.example/b")).hasSize(1);
        assertThat(downloads).containsExactly("http://origin.example/b");
    }

    @Test
    void refusesTheMetadataAddressBeforeAnythingConnectsToIt() throws Exception {
        var seed = node(true, false, List.of("127.0.0.1:8002"), List.of());

        StatusRuntimeException e = refused(seed, "http://169.254.169.254/latest/meta-data/iam/security-credentials/");

        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
        assertThat(e.getStatus().getDescription()).contains("169.254.169.254", OriginAddressPolicy.KEY);
        // The download service (the only part that connects to origins) never saw it.
        assertThat(downloads).isEmpty();
    }

    @Test
    void refusesAHostNameThatResolvesToADeniedAddress() throws Exception {
        var seed = node(true, false, List.of("127.0.0.1:8002"), List.of());

        StatusRuntimeException e = refused(seed, "http://metadata.google.internal/computeMetadata/v1/");

        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
        assertThat(e.getStatus().getDescription()).contains("metadata.google.internal", "169.254.169.254");
        assertThat(resolved).contains("metadata.google.internal");
        assertThat(downloads).isEmpty();
    }

    @Test
    void aMalformedUrlIsAnInvalidArgument() throws Exception {
        var seed = node(true, false, List.of("127.0.0.1:8002"), List.of());

        assertThat(refused(seed, "http://exa mple/").getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(downloads).isEmpty();
    }

    @Test
    void theOtherCallsStayOpenToPeers() throws Exception {
        var seed = node(true, false, List.of("127.0.0.2:8002"), List.of());

        // Not refused by the guard: answered by the service (no such task here).
        assertThatThrownBy(() -> seed.statTask(StatTaskRequest.newBuilder().setTaskId("nope").build()))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND));
    }

    @Test
    void schedulerNamesAreResolvedAgainOnRefresh() throws Exception {
        List<InetAddress> answer = new CopyOnWriteArrayList<>(List.of(InetAddress.getByName("10.0.0.5")));
        AtomicBoolean down = new AtomicBoolean();
        SchedulerAllowList list = new SchedulerAllowList(List.of("scheduler.pollen:8002"), List.of(), host -> {
            if (down.get()) {
                throw new UnknownHostException(host);
            }
            return answer.toArray(InetAddress[]::new);
        });
        InetAddress moved = InetAddress.getByName("10.0.0.6");
        assertThat(list.allows(moved)).isFalse();

        answer.add(moved);
        list.refresh();
        assertThat(list.allows(moved)).isTrue();
        assertThat(list.describe()).contains("scheduler.pollen=10.0.0.5,10.0.0.6");

        // DNS fails: the last answer stays, the schedulers are not locked out.
        down.set(true);
        list.refresh();
        assertThat(list.allows(moved)).isTrue();
        assertThat(list.allows(InetAddress.getByName("10.0.0.7"))).isFalse();
    }
}
