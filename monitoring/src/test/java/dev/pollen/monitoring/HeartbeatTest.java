package dev.pollen.monitoring;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class HeartbeatTest {
    private final AtomicLong now = new AtomicLong(1_000);
    private final Heartbeat heartbeat = new Heartbeat(Duration.ofSeconds(60), now::get);

    @Test
    void isAliveWhileBeatsComeWithinTheLimit() {
        now.addAndGet(Duration.ofSeconds(59).toNanos());
        assertThat(heartbeat.problem()).isNull();
        heartbeat.beat();
        now.addAndGet(Duration.ofSeconds(59).toNanos());
        assertThat(heartbeat.problem()).isNull();
    }

    @Test
    void isWedgedOnceNoBeatCameForLongerThanTheLimitAndAliveAgainAtTheNextBeat() {
        now.addAndGet(Duration.ofSeconds(61).toNanos());
        assertThat(heartbeat.problem()).startsWith("no heartbeat for 61 s (limit 60 s): the process is wedged (fix: restart it");
        assertThat(Endpoints.alive(heartbeat).answer().status()).isEqualTo(503);
        heartbeat.beat();
        assertThat(heartbeat.problem()).isNull();
        assertThat(Endpoints.alive(heartbeat).answer().status()).isEqualTo(200);
    }
}
