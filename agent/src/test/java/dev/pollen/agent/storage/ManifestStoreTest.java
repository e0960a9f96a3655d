package dev.pollen.agent.storage;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ManifestStoreTest {
    private static final Instant NOW = Instant.parse("2026-12-01T12:00:00Z");
    private static final String TYPE = "application/vnd.oci.image.manifest.v1+json";

    @TempDir
    Path dir;

    private ManifestStore store() throws Exception {
        return new ManifestStore(dir, Clock.fixed(NOW, ZoneOffset.UTC));
    }

    private static byte[] manifest(int n) {
        return ("{\"schemaVersion\":2,\"n\":" + n + "}").getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void aManifestIsKeptOnlyUnderItsOwnDigestAndComesBackWithItsMediaType() throws Exception {
        ManifestStore store = store();
        byte[] body = manifest(1);
        String hex = ManifestStore.sha256(body);

        assertThat(store.put(ManifestStore.sha256(manifest(2)), TYPE, body)).isFalse();
        assertThat(store.get(ManifestStore.sha256(manifest(2)))).isNull();
        assertThat(store.put(hex, TYPE, body)).isTrue();

        ManifestStore.Manifest m = new ManifestStore(dir, Clock.systemUTC()).get(hex);
        assertThat(m.body()).isEqualTo(body);
        assertThat(m.mediaType()).isEqualTo(TYPE);
    }

    @Test
    void aDamagedFileIsRemovedNotServed() throws Exception {
        ManifestStore store = store();
        byte[] body = manifest(1);
        String hex = ManifestStore.sha256(body);
        store.put(hex, TYPE, body);
        Path file = dir.resolve("manifests").resolve(hex);
        byte[] bytes = Files.readAllBytes(file);
        bytes[bytes.length - 2] ^= 1;
        Files.write(file, bytes);

        assertThat(store.get(hex)).isNull();
        assertThat(file).doesNotExist();
    }

    @Test
    void badNamesAndOversizedManifestsAreRefused() throws Exception {
        ManifestStore store = store();
        assertThat(store.get("../../etc/passwd")).isNull();
        assertThat(store.put("../x", TYPE, manifest(1))).isFalse();
        byte[] huge = new byte[ManifestStore.MAX_BYTES + 1];
        assertThat(store.put(ManifestStore.sha256(huge), TYPE, huge)).isFalse();
        assertThat(store.put(ManifestStore.sha256(manifest(3)), "bad\ntype", manifest(3))).isTrue();
        assertThat(store.get(ManifestStore.sha256(manifest(3))).mediaType()).isEqualTo("badtype");
    }

    @Test
    void collectEvictsTheUnusedThenTheLeastRecentlyUsedOverTheLimit() throws Exception {
        ManifestStore store = store();
        String[] hex = new String[4];
        for (int i = 0; i < 4; i++) {
            hex[i] = ManifestStore.sha256(manifest(i));
            store.put(hex[i], TYPE, manifest(i));
            Files.setLastModifiedTime(dir.resolve("manifests").resolve(hex[i]), FileTime.from(NOW.minus(Duration.ofHours(10 - i))));
        }
        long one = Files.size(dir.resolve("manifests").resolve(hex[3]));

        // hex[0] unused for 10 h (past a 9.5 h TTL); of the rest only the two most recent fit.
        int evicted = store.collect(NOW.minus(Duration.ofMinutes(570)), 2 * one + 1);

        assertThat(evicted).isEqualTo(2);
        assertThat(store.get(hex[0])).isNull();
        assertThat(store.get(hex[1])).isNull();
        assertThat(store.get(hex[2])).isNotNull();
        assertThat(store.get(hex[3])).isNotNull();
    }
}
