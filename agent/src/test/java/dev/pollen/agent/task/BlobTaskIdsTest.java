package dev.pollen.agent.task;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** Dragonfly's BlobDigestBased task ids: a blob url's digest hex, whatever registry, repository or query. */
class BlobTaskIdsTest {
    private static final String HEX = "0123456789abcdef".repeat(4);

    @Test
    void aBlobUrlNamesItsSha256Digest() {
        assertThat(TaskIds.blobDigest("https://registry-1.docker.io/v2/library/alpine/blobs/sha256:" + HEX))
                .hasToString("sha256:" + HEX);
        assertThat(TaskIds.blobDigest("http://127.0.0.1:5000/v2/a/b/c/blobs/sha256:" + HEX + "?ns=docker.io"))
                .hasToString("sha256:" + HEX);
        assertThat(TaskIds.blobDigest("https://r.example/v2/a/manifests/sha256:" + HEX)).isNull();
        assertThat(TaskIds.blobDigest("https://r.example/v2/a/blobs/sha512:" + HEX + HEX)).isNull();
        assertThat(TaskIds.blobDigest("https://r.example/v2/a/blobs/sha256:xyz")).isNull();
    }

    @Test
    void oneLayerIsOneTaskAcrossRegistriesAndHeadersAreNoPartOfIt() {
        TaskSpec a = TaskSpec.blob("https://a.example/v2/x/blobs/sha256:" + HEX, TaskIds.blobDigest("https://a.example/v2/x/blobs/sha256:" + HEX),
                Map.of("Authorization", "Bearer 1"));
        TaskSpec b = TaskSpec.blob("http://b.example/v2/y/z/blobs/sha256:" + HEX, a.blobDigest(), Map.of());

        assertThat(a.taskId()).isEqualTo(HEX).isEqualTo(b.taskId());
        assertThat(a.toDownload().getEnableTaskIdBasedBlobDigest()).isTrue();
        assertThat(new TaskSpec("https://a.example/f", null, null, null, java.util.Set.of(), Map.of()).toDownload()
                .getEnableTaskIdBasedBlobDigest()).isFalse();
    }
}
