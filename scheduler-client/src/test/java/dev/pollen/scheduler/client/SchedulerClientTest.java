package dev.pollen.scheduler.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.scheduler.SchedulerServer;
import dev.pollen.scheduler.SchedulingConfig;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Against real schedulers on loopback ports. */
class SchedulerClientTest {
    private final List<AutoCloseable> closeables = new ArrayList<>();

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : closeables.reversed()) {
            c.close();
        }
    }

    private SchedulerServer scheduler() throws Exception {
        SchedulerServer s = SchedulerServer.start(new InetSocketAddress("127.0.0.1", 0), SchedulingConfig.defaults(), Clock.systemUTC());
        closeables.add(s);
        return s;
    }

    private SchedulerClient client(String hostId, List<String> addresses) {
        Host host = Host.newBuilder().setId(hostId).setIp("127.0.0.1").setPort(4000).setDownloadPort(4005).build();
        SchedulerClient c = new SchedulerClient(addresses, () -> host, Duration.ofSeconds(30), Clock.systemUTC());
        c.start();
        closeables.add(c);
        return c;
    }

    private static Download download() {
        return Download.newBuilder().setUrl("http://origin/f").build();
    }

    @Test
    void theFirstPeerGoesToTheSourceAndTheNextGetsItAsParent() throws Exception {
        SchedulerServer s = scheduler();
        List<String> addresses = List.of("127.0.0.1:" + s.port());
        SchedulerClient a = client("host-a", addresses);
        SchedulerClient b = client("host-b", addresses);
        String task = "f".repeat(64);
        SchedulerClient.Registration ra = a.register(task, "peer-a", download(), Duration.ofSeconds(5));
        closeables.add(ra.session());
        assertThat(ra.decision()).isInstanceOf(Decision.BackToSource.class);
        ra.session().started(true);
        SchedulerClient.Registration rb = b.register(task, "peer-b", download(), Duration.ofSeconds(5));
        closeables.add(rb.session());
        assertThat(rb.decision()).isInstanceOfSatisfying(Decision.Parents.class, p -> {
            assertThat(p.parents()).hasSize(1);
            assertThat(p.parents().get(0).getId()).isEqualTo("peer-a");
            assertThat(p.parents().get(0).getHost().getDownloadPort()).isEqualTo(4005);
        });
    }

    @Test
    void failsOverToTheNextSchedulerWhenTheOwnerIsDown() throws Exception {
        SchedulerServer up = scheduler();
        SchedulerServer down = scheduler();
        List<String> addresses = List.of("127.0.0.1:" + up.port(), "127.0.0.1:" + down.port());
        down.close();
        SchedulerClient c = client("host-a", addresses);
        for (int i = 0; i < 20; i++) {
            SchedulerClient.Registration r = c.register(String.format("%064x", i), "peer-" + i, download(), Duration.ofSeconds(5));
            closeables.add(r.session());
            assertThat(r.session().scheduler()).isEqualTo("127.0.0.1:" + up.port());
        }
    }

    @Test
    void saysSoWhenNoSchedulerAnswers() throws Exception {
        SchedulerServer s = scheduler();
        String address = "127.0.0.1:" + s.port();
        s.close();
        SchedulerClient c = client("host-a", List.of(address));
        assertThatThrownBy(() -> c.register("a".repeat(64), "p", download(), Duration.ofSeconds(2)))
                .isInstanceOf(SchedulerUnavailableException.class)
                .hasMessageContaining(address);
    }
}
