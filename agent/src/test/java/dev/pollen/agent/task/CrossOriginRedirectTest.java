package dev.pollen.agent.task;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.agent.metrics.AgentMetrics;
import dev.pollen.agent.origin.Backoff;
import dev.pollen.agent.origin.OriginClient;
import dev.pollen.agent.origin.TestOrigin;
import dev.pollen.agent.storage.Storage;
import dev.pollen.agent.storage.TaskMetadata;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A download redirected to another host (a presigned object store url, say): its pieces go there without our credentials. */
class CrossOriginRedirectTest {
    @TempDir
    Path dir;

    private final TestOrigin origin = new TestOrigin();
    private final TestOrigin store = new TestOrigin();
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();

    CrossOriginRedirectTest() throws Exception {
    }

    @AfterEach
    void tearDown() {
        executor.shutdownNow();
        origin.close();
        store.close();
    }

    @Test
    void piecesFetchedStraightFromTheRedirectTargetCarryNoCredentials() throws Exception {
        byte[] body = new byte[10 << 20];
        new Random(5).nextBytes(body);
        store.serve("/blob", body);
        origin.redirect("/f", 302, store.url("/blob"));
        TaskSpec spec = new TaskSpec(origin.url("/f"), null, null, null, Set.of(),
                Map.of("Authorization", "Bearer t0k", "Cookie", "session=s3cret"));
        try (TaskManager tasks = new TaskManager(new Storage(dir.resolve("store")), new OriginClient(3,
                new Backoff(Duration.ofMillis(10)), Duration.ofSeconds(2), Duration.ofSeconds(5)), executor, 4, Clock.systemUTC(), null, AgentMetrics.none())) {
            new Downloader(tasks).download(new DownloadRequest(spec, null, null, dir.resolve("out"), false, false, true),
                    new DownloadListener() {
                        @Override
                        public void started(TaskMetadata metadata) {
                        }

                        @Override
                        public void pieceReady(ReadyPiece piece) {
                        }
                    }, new CompletableFuture<>());
        }
        assertThat(Files.readAllBytes(dir.resolve("out"))).isEqualTo(body);
        assertThat(origin.requestHeaders()).singleElement().satisfies(h -> assertThat(h.get("Authorization")).containsExactly("Bearer t0k"));
        // The probe after the redirect and every piece asked of the target straight away: none with the credentials.
        assertThat(store.requestHeaders()).hasSizeGreaterThan(2)
                .allSatisfy(h -> assertThat(h).doesNotContainKeys("Authorization", "Cookie"));
    }
}
