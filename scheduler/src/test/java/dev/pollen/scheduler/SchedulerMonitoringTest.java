package dev.pollen.scheduler;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.TaskType;
import dev.pollen.proto.scheduler.v2.AnnounceHostRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerResponse;
import dev.pollen.proto.scheduler.v2.RegisterPeerRequest;
import dev.pollen.proto.scheduler.v2.SchedulerGrpc;
import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The scheduler's monitoring port: its meters move with the decisions it makes, and /healthy says it serves. */
class SchedulerMonitoringTest {
    private final HttpClient http = HttpClient.newHttpClient();
    private SchedulerServer server;
    private ManagedChannel channel;

    @BeforeEach
    void start() throws Exception {
        server = SchedulerServer.start(new InetSocketAddress("127.0.0.1", 0), SchedulingConfig.defaults(), Clock.systemUTC(),
                Duration.ofMinutes(1), new InetSocketAddress("127.0.0.1", 0), null);
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    }

    @AfterEach
    void stop() {
        channel.shutdownNow();
        server.close();
        http.close();
    }

    @Test
    void aDecisionMovesTheDecisionMetersAndTheClusterGauges() throws Exception {
        assertThat(get("/metrics").body())
                .contains("pollen_scheduler_decisions_total{result=\"back_to_source\"} 0.0")
                .contains("pollen_scheduler_hosts 0.0");
        Host host = Host.newBuilder().setId("10.0.0.1-a").setHostname("a").setIp("10.0.0.1").setPort(4000).setDownloadPort(4005).build();
        SchedulerGrpc.newBlockingStub(channel).announceHost(AnnounceHostRequest.newBuilder().setHost(host).build());
        BlockingQueue<AnnouncePeerResponse> answers = new LinkedBlockingQueue<>();
        StreamObserver<AnnouncePeerRequest> stream = SchedulerGrpc.newStub(channel).announcePeer(new StreamObserver<>() {
            @Override
            public void onNext(AnnouncePeerResponse value) {
                answers.add(value);
            }

            @Override
            public void onError(Throwable t) {
            }

            @Override
            public void onCompleted() {
            }
        });
        stream.onNext(AnnouncePeerRequest.newBuilder().setHostId(host.getId()).setTaskId("ab".repeat(32)).setPeerId("peer-1")
                .setRegisterPeerRequest(RegisterPeerRequest.newBuilder().setDownload(Download.newBuilder()
                        .setUrl("http://origin/f").setType(TaskType.STANDARD).setActualContentLength(1 << 20)
                        .setActualPieceLength(4 << 20).setActualPieceCount(1)))
                .build());
        // The first peer of a task nobody has is sent to the origin.
        assertThat(answers.poll(10, TimeUnit.SECONDS).hasNeedBackToSourceResponse()).isTrue();

        await().untilAsserted(() -> assertThat(get("/metrics").body())
                .contains("pollen_scheduler_decisions_total{result=\"back_to_source\"} 1.0")
                .contains("pollen_scheduler_back_to_source_grants_total 1.0")
                .contains("pollen_scheduler_decision_duration_seconds_count 1")
                .contains("pollen_scheduler_hosts 1.0")
                .contains("pollen_scheduler_tasks 1.0")
                .contains("pollen_scheduler_peers 1.0")
                .contains("jvm_memory_used_bytes"));
        stream.onCompleted();
    }

    @Test
    void healthySaysWhatTheGrpcHealthServiceSays() throws Exception {
        HttpResponse<String> healthy = get("/healthy");
        assertThat(healthy.statusCode()).isEqualTo(200);
        assertThat(healthy.body()).isEqualTo("OK\n");
        assertThat(HealthGrpc.newBlockingStub(channel).check(HealthCheckRequest.newBuilder().setService("scheduler.v2.Scheduler").build())
                .getStatus()).isEqualTo(ServingStatus.SERVING);
        assertThat(get("/livez").body()).isEqualTo("OK\n");
        assertThat(get("/nothing").statusCode()).isEqualTo(404);
    }

    private HttpResponse<String> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.metricsPort() + path)).build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
