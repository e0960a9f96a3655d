package dev.pollen.agent.mirror;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.pollen.agent.storage.StalledContentSyncs;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MirrorServerTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private FakeRegistry registry;
    private MirrorFixture mirror;

    @BeforeEach
    void setUp() throws IOException {
        registry = new FakeRegistry();
        mirror = new MirrorFixture(dir, "https://registry.invalid", List.of(registry.hostPort()), Duration.ofSeconds(5));
    }

    @AfterEach
    void tearDown() {
        mirror.close();
        registry.close();
    }

    private static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    private HttpResponse<byte[]> get(URI uri, String... headers) throws Exception {
        return mirror.get(uri, headers);
    }

    private HttpResponse<Void> head(URI uri, String... headers) throws Exception {
        return mirror.head(uri, headers);
    }

    /** A GET that must be answered whole within seconds (while a stalled fsync would hold it forever). */
    private HttpResponse<byte[]> pulledSoon(URI uri) throws Exception {
        return mirror.client.sendAsync(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofByteArray())
                .get(10, TimeUnit.SECONDS);
    }

    private URI blobUri(String repo, String digest) {
        return mirror.mirrorUri("/v2/" + repo + "/blobs/" + digest, registry.hostPort());
    }

    @Test
    void tagHeadPassesThroughWithEveryAcceptValueAndWithoutNs() throws Exception {
        String path = "/v2/library/app/manifests/latest";
        registry.handle(path, s -> FakeRegistry.Answer.of(200, "", "Docker-Content-Digest", "sha256:" + "a".repeat(64),
                "Content-Type", "application/vnd.oci.image.index.v1+json", "Content-Length", "1234"));
        HttpResponse<Void> r = head(mirror.mirrorUri(path, registry.hostPort()),
                "Accept", "application/vnd.oci.image.index.v1+json",
                "Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Docker-Content-Digest")).contains("sha256:" + "a".repeat(64));
        assertThat(r.headers().firstValue("Content-Length")).contains("1234");
        assertThat(r.headers().firstValue("Content-Type")).contains("application/vnd.oci.image.index.v1+json");
        assertThat(r.headers().firstValue(Exchange.REASON)).contains("tag");
        FakeRegistry.Seen seen = registry.requestsTo(path).getFirst();
        assertThat(seen.method()).isEqualTo("HEAD");
        assertThat(seen.query()).isNull();
        assertThat(seen.header("Accept")).containsExactly("application/vnd.oci.image.index.v1+json",
                "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json");
        assertThat(seen.header("Host")).containsExactly(registry.hostPort());
    }

    @Test
    void otherQueryParametersReachTheRegistryAndTheDefaultRegistryServesRequestsWithoutNs() throws Exception {
        String path = "/v2/library/app/tags/list";
        registry.handle(path, s -> FakeRegistry.Answer.of(200, "{\"tags\":[\"1\"]}", "Content-Type", "application/json"));
        URI uri = URI.create("http://127.0.0.1:" + mirror.port() + path + "?n=10&ns=" + registry.hostPort() + "&last=a");

        HttpResponse<byte[]> r = get(uri);

        assertThat(new String(r.body())).isEqualTo("{\"tags\":[\"1\"]}");
        assertThat(registry.requestsTo(path).getFirst().query()).isEqualTo("n=10&last=a");
        // No ns: the X-Dragonfly-Registry header names the registry.
        HttpResponse<byte[]> viaHeader = get(URI.create("http://127.0.0.1:" + mirror.port() + path),
                "X-Dragonfly-Registry", registry.base());
        assertThat(viaHeader.statusCode()).isEqualTo(200);
        assertThat(registry.requestsTo(path)).hasSize(2);
    }

    @Test
    void hopByHopHeadersAreNotForwardedEitherWay() throws Exception {
        String path = "/v2/";
        registry.handle(path, s -> FakeRegistry.Answer.of(200, "{}", "Keep-Alive", "timeout=5", "X-Hop", "1",
                "Connection", "X-Hop", "Docker-Distribution-Api-Version", "registry/2.0"));
        try (RawClient raw = new RawClient(mirror.port())) {
            raw.send("GET /v2/?ns=" + registry.hostPort() + " HTTP/1.1\r\nHost: mirror\r\nConnection: X-Secret\r\n"
                    + "X-Secret: 1\r\nTE: trailers\r\nProxy-Authorization: Basic eA==\r\nX-Kept: yes\r\nX-Kept: twice\r\n\r\n");
            RawClient.Reply reply = raw.reply();
            assertThat(reply.status()).isEqualTo(200);
            assertThat(reply.header("Docker-Distribution-Api-Version")).containsExactly("registry/2.0");
            assertThat(reply.header("Keep-Alive")).isEmpty();
            assertThat(reply.header("X-Hop")).isEmpty();
        }
        FakeRegistry.Seen seen = registry.requestsTo(path).getFirst();
        assertThat(seen.header("X-Secret")).isEmpty();
        assertThat(seen.header("TE")).isEmpty();
        assertThat(seen.header("Proxy-Authorization")).isEmpty();
        assertThat(seen.header("X-Kept")).containsExactly("yes", "twice");
    }

    @Test
    void aBlobComesThroughP2pOnceAndThenFromTheStore() throws Exception {
        byte[] content = random(9 * MIB + 17, 1);
        String digest = registry.blob("library/app", content);

        HttpResponse<byte[]> first = get(blobUri("library/app", digest), "Authorization", "Bearer t");

        assertThat(first.statusCode()).isEqualTo(200);
        assertThat(first.body()).isEqualTo(content);
        assertThat(first.headers().firstValue("Docker-Content-Digest")).contains(digest);
        assertThat(first.headers().firstValue(Exchange.SOURCE)).contains("origin");
        String taskId = digest.substring("sha256:".length());
        await().atMost(Duration.ofSeconds(10)).until(() -> mirror.finished(taskId));
        // The task's requests carry the client's credentials (the access check asks once without, for public reads).
        assertThat(registry.requestsTo("GET", "/v2/library/app/blobs/" + digest)).isNotEmpty().allSatisfy(s ->
                assertThat(s.header("Authorization")).containsExactly("Bearer t"));
        long sent = registry.blobBytes.get();

        // Another repository, same layer: the same task, from the store.
        registry.blob("other/repo", content);
        HttpResponse<byte[]> second = get(blobUri("other/repo", digest));
        assertThat(second.body()).isEqualTo(content);
        assertThat(second.headers().firstValue(Exchange.SOURCE)).contains("local");
        assertThat(registry.blobBytes.get()).isEqualTo(sent);

        HttpResponse<Void> head = head(blobUri("library/app", digest));
        assertThat(head.statusCode()).isEqualTo(200);
        assertThat(head.headers().firstValue("Content-Length")).contains(Long.toString(content.length));
        assertThat(head.headers().firstValue("Docker-Content-Digest")).contains(digest);
        assertThat(head.headers().firstValue(Exchange.SOURCE)).contains("local");

        // Counted once each handler is done (just after the answer went out).
        await().untilAsserted(() -> {
            assertThat(mirror.meters.get("pollen.proxy.requests").tag("route", "p2p").tag("status", "200").counter().count())
                    .isEqualTo(2);
            assertThat(mirror.meters.get("pollen.proxy.requests").tag("route", "local").tag("status", "200").counter().count())
                    .isEqualTo(1);
        });
        assertThat(mirror.meters.get("pollen.download.bytes").tag("source", "origin").counter().count()).isEqualTo(content.length);
        assertThat(mirror.meters.get("pollen.download.bytes").tag("source", "local").counter().count()).isEqualTo(content.length);
    }

    @Test
    void headOfABlobNotStoredPassesThrough() throws Exception {
        byte[] content = random(1000, 2);
        String digest = registry.blob("library/app", content);

        HttpResponse<Void> head = head(blobUri("library/app", digest));

        assertThat(head.statusCode()).isEqualTo(200);
        assertThat(head.headers().firstValue("Content-Length")).contains("1000");
        assertThat(head.headers().firstValue("Docker-Content-Digest")).contains(digest);
        assertThat(head.headers().firstValue(Exchange.REASON)).contains("not_stored");
    }

    @Test
    void rangesAnswerExactly206sAnd416PastTheEnd() throws Exception {
        byte[] content = random(10 * MIB + 5, 3);
        String digest = registry.blob("library/app", content);
        URI uri = blobUri("library/app", digest);

        HttpResponse<byte[]> open = get(uri, "Range", "bytes=" + (6 * MIB + 1) + "-");
        assertThat(open.statusCode()).isEqualTo(206);
        assertThat(open.headers().firstValue("Content-Range")).contains("bytes " + (6 * MIB + 1) + "-" + (content.length - 1)
                + "/" + content.length);
        assertThat(open.body()).isEqualTo(Arrays.copyOfRange(content, 6 * MIB + 1, content.length));

        HttpResponse<byte[]> bounded = get(uri, "Range", "bytes=100-199");
        assertThat(bounded.statusCode()).isEqualTo(206);
        assertThat(bounded.headers().firstValue("Content-Range")).contains("bytes 100-199/" + content.length);
        assertThat(bounded.headers().firstValue("Content-Length")).contains("100");
        assertThat(bounded.body()).isEqualTo(Arrays.copyOfRange(content, 100, 200));

        HttpResponse<byte[]> past = get(uri, "Range", "bytes=" + content.length + "-");
        assertThat(past.statusCode()).isEqualTo(416);
        assertThat(past.headers().firstValue("Content-Range")).contains("bytes */" + content.length);
    }

    @Test
    void parallelRangesOfOneBlobShareOneTaskAndTheRegistrySendsItOnce() throws Exception {
        byte[] content = random(24 * MIB, 4);
        String digest = registry.blob("library/app", content);
        URI uri = blobUri("library/app", digest);
        registry.chunkPauseMillis = 1;

        List<CompletableFuture<HttpResponse<byte[]>>> parts = new ArrayList<>();
        int chunk = 6 * MIB;
        for (int i = 0; i < 4; i++) {
            HttpRequest request = HttpRequest.newBuilder(uri).header("Range", "bytes=" + (i * chunk) + "-").GET().build();
            parts.add(mirror.client.sendAsync(request, HttpResponse.BodyHandlers.ofByteArray()));
        }
        for (int i = 0; i < 4; i++) {
            HttpResponse<byte[]> r = parts.get(i).get();
            assertThat(r.statusCode()).isEqualTo(206);
            assertThat(r.body()).isEqualTo(Arrays.copyOfRange(content, i * chunk, content.length));
        }
        // Each piece once, plus the one-byte probe.
        assertThat(registry.blobBytes.get()).isLessThanOrEqualTo(content.length + 1L);
    }

    @Test
    void anUnauthorizedBlobGivesTheRegistrysChallengeAndBody() throws Exception {
        byte[] content = random(1 << 16, 5);
        String digest = "sha256:" + FakeRegistry.sha256(content);
        String path = "/v2/private/app/blobs/" + digest;
        String challenge = "Bearer realm=\"http://" + registry.hostPort() + "/token\",service=\"registry\",scope=\"repository:private/app:pull\"";
        registry.handle(path, s -> s.header("Authorization").contains("Bearer good") ? null
                : FakeRegistry.Answer.of(401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}", "WWW-Authenticate", challenge,
                "Content-Type", "application/json"));
        registry.blob("private/app", content);

        HttpResponse<byte[]> denied = get(blobUri("private/app", digest));
        assertThat(denied.statusCode()).isEqualTo(401);
        assertThat(denied.headers().firstValue("WWW-Authenticate")).contains(challenge);
        assertThat(new String(denied.body())).isEqualTo("{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}");
        assertThat(denied.headers().firstValue(Exchange.REASON)).contains("unauthorized");

        HttpResponse<byte[]> allowed = get(blobUri("private/app", digest), "Authorization", "Bearer good");
        assertThat(allowed.statusCode()).isEqualTo(200);
        assertThat(allowed.body()).isEqualTo(content);
    }

    @Test
    void aMissingBlobIsTheRegistrys404() throws Exception {
        HttpResponse<byte[]> r = get(blobUri("library/app", "sha256:" + "b".repeat(64)));

        assertThat(r.statusCode()).isEqualTo(404);
        assertThat(new String(r.body())).contains("BLOB_UNKNOWN");
    }

    @Test
    void blobRedirectsToStorageAreFollowedWithoutCredentialsAndTheirQueryIsNotTheTask() throws Exception {
        byte[] content = random(5 * MIB, 6);
        try (FakeRegistry storage = new FakeRegistry()) {
            String digest = storage.blob("s3", content);
            String stored = "/v2/s3/blobs/" + digest;
            String path = "/v2/library/app/blobs/" + digest;
            // Relative first (same host), then to the storage host with a signed query.
            registry.handle(path, s -> FakeRegistry.Answer.of(307, "", "Location", "/redirected" + path));
            registry.handle("/redirected" + path, s -> FakeRegistry.Answer.of(302, "", "Location",
                    storage.base() + stored + "?X-Amz-Signature=" + System.nanoTime()));

            HttpResponse<byte[]> r = get(blobUri("library/app", digest), "Authorization", "Bearer secret");

            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.body()).isEqualTo(content);
            assertThat(registry.requestsTo("/redirected" + path).getFirst().header("Authorization")).containsExactly("Bearer secret");
            assertThat(storage.requestsTo(stored)).isNotEmpty().allSatisfy(s -> assertThat(s.header("Authorization")).isEmpty());
            await().atMost(Duration.ofSeconds(10)).until(() -> mirror.finished(digest.substring(7)));
        }
    }

    @Test
    void passThroughRedirectsAreFollowedForGet() throws Exception {
        try (FakeRegistry other = new FakeRegistry()) {
            other.handle("/m", s -> FakeRegistry.Answer.of(200, "manifest", "Content-Type", "application/json"));
            String path = "/v2/library/app/manifests/sha256:" + "c".repeat(64);
            registry.handle(path, s -> FakeRegistry.Answer.of(302, "", "Location", other.base() + "/m"));

            HttpResponse<byte[]> r = get(mirror.mirrorUri(path, registry.hostPort()), "Authorization", "Bearer secret");

            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(new String(r.body())).isEqualTo("manifest");
            assertThat(other.requestsTo("/m").getFirst().header("Authorization")).isEmpty();
        }
    }

    @Test
    void aBlobThatDoesNotMatchItsDigestIsNeverServedCompleteAndItsTaskIsDropped() throws Exception {
        byte[] claimed = random(3 * MIB, 7);
        byte[] served = claimed.clone();
        served[MIB] ^= 1;
        String digest = registry.lyingBlob("library/app", claimed, served);
        String taskId = digest.substring(7);

        assertThatThrownBy(() -> get(blobUri("library/app", digest))).isInstanceOf(IOException.class);
        await().atMost(Duration.ofSeconds(10)).until(() -> !mirror.storage.exists(taskId));

        // The next request starts over (and is refused again), never served from a bad store.
        long before = registry.blobBytes.get();
        assertThatThrownBy(() -> get(blobUri("library/app", digest))).isInstanceOf(IOException.class);
        assertThat(registry.blobBytes.get()).isGreaterThan(before);
        HttpResponse<Void> head = head(blobUri("library/app", digest));
        assertThat(head.headers().firstValue(Exchange.REASON)).contains("not_stored");
    }

    @Test
    void aBlobsLastByteGoesOutOnceItMatchesItsDigestNotOnceItIsDurable() throws Exception {
        byte[] content = random(3 * MIB, 11);
        String digest = registry.blob("library/app", content);
        String taskId = digest.substring(7);
        // A stalled content sync stands in for an fsync that takes seconds on a real disk.
        try (StalledContentSyncs slowSync = new StalledContentSyncs()) {
            HttpResponse<byte[]> first = pulledSoon(blobUri("library/app", digest));
            assertThat(first.body()).isEqualTo(content);
            slowSync.awaitStalled(Duration.ofSeconds(10));
            assertThat(mirror.finished(taskId)).isFalse();
            // A second pull meanwhile gets the whole verified blob at once; the store does not yet claim it.
            HttpResponse<byte[]> second = pulledSoon(blobUri("library/app", digest));
            assertThat(second.body()).isEqualTo(content);
            assertThat(second.headers().firstValue(Exchange.SOURCE)).contains("local");
            assertThat(head(blobUri("library/app", digest)).headers().firstValue(Exchange.REASON)).contains("not_stored");
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> mirror.finished(taskId));
    }

    @Test
    void aBlobThatDoesNotMatchItsDigestIsRefusedWhileOtherTasksAreBeingMadeDurable() throws Exception {
        byte[] good = random(2 * MIB, 12);
        String goodDigest = registry.blob("library/app", good);
        byte[] claimed = random(2 * MIB, 13);
        byte[] served = claimed.clone();
        served[served.length - 1] ^= 1;
        String badDigest = registry.lyingBlob("library/app", claimed, served);
        try (StalledContentSyncs slowSync = new StalledContentSyncs()) {
            assertThat(pulledSoon(blobUri("library/app", goodDigest)).body()).isEqualTo(good);
            slowSync.awaitStalled(Duration.ofSeconds(10));
            // Only its last byte differs: it is withheld, and the connection cut, before any fsync could be waited for.
            try (RawClient raw = new RawClient(mirror.port())) {
                raw.send("GET /v2/library/app/blobs/" + badDigest + "?ns=" + registry.hostPort() + " HTTP/1.1\r\nHost: m\r\n\r\n");
                assertThat(raw.replyHead().status()).isEqualTo(200);
                assertThat(raw.readBody(served.length - 1)).isEqualTo(Arrays.copyOf(served, served.length - 1));
                assertThat(raw.readBody(1)).isEmpty();
            }
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> !mirror.storage.exists(badDigest.substring(7)));
    }

    @Test
    void aClientThatLeavesMidBlobFreesItsRequestAndOthersStillGetTheBlob() throws Exception {
        byte[] content = random(16 * MIB, 8);
        String digest = registry.blob("library/app", content);
        registry.chunkPauseMillis = 2;
        try (RawClient raw = new RawClient(mirror.port())) {
            raw.send("GET /v2/library/app/blobs/" + digest + "?ns=" + registry.hostPort() + " HTTP/1.1\r\nHost: m\r\n\r\n");
            RawClient.Reply reply = raw.replyHead();
            assertThat(reply.status()).isEqualTo(200);
            raw.readBody(64 * 1024);
        }
        HttpResponse<byte[]> r = get(blobUri("library/app", digest));
        assertThat(r.body()).isEqualTo(content);
        await().atMost(Duration.ofSeconds(10)).until(() -> !mirror.tasks.isActive(digest.substring(7)));
    }

    @Test
    void theFirstBytesReachTheClientBeforeTheBlobIsComplete() throws Exception {
        byte[] content = random(32 * MIB, 10);
        String digest = registry.blob("library/app", content);
        registry.chunkPauseMillis = 5;
        try (RawClient raw = new RawClient(mirror.port())) {
            raw.send("GET /v2/library/app/blobs/" + digest + "?ns=" + registry.hostPort() + " HTTP/1.1\r\nHost: m\r\n\r\n");
            assertThat(raw.replyHead().status()).isEqualTo(200);
            assertThat(raw.readBody(MIB)).isEqualTo(Arrays.copyOf(content, MIB));
            assertThat(registry.blobBytes.get()).isLessThan(content.length);
            assertThat(raw.readBody(content.length - MIB)).isEqualTo(Arrays.copyOfRange(content, MIB, content.length));
        }
    }

    @Test
    void aBadDigestIsTheRegistrysToJudge() throws Exception {
        HttpResponse<byte[]> r = get(mirror.mirrorUri("/v2/library/app/blobs/sha256:nothex", registry.hostPort()));

        assertThat(r.statusCode()).isEqualTo(404);
        assertThat(r.headers().firstValue(Exchange.REASON)).contains("bad_digest");
    }

    @Test
    void badInputGetsAnAnswerAndTheMirrorKeepsServing() throws Exception {
        try (RawClient raw = new RawClient(mirror.port())) {
            raw.send("GET /v2/?ns=" + registry.hostPort() + " HTTP/1.1\r\nHost: m\r\nX-Big: " + "x".repeat(100_000) + "\r\n\r\n");
            assertThat(raw.reply().status()).isEqualTo(431);
        }
        try (RawClient raw = new RawClient(mirror.port())) {
            raw.send("GET /v2/?ns=not%20a%20host HTTP/1.1\r\nHost: m\r\n\r\n");
            assertThat(raw.reply().status()).isEqualTo(400);
        }
        try (RawClient raw = new RawClient(mirror.port())) {
            raw.send("GARBAGE\r\n\r\n");
            assertThat(raw.reply().status()).isEqualTo(400);
        }
        try (RawClient raw = new RawClient(mirror.port())) {
            raw.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
            assertThat(raw.reply().status()).isEqualTo(405);
        }
        registry.handle("/v2/", s -> FakeRegistry.Answer.of(200, "{}"));
        assertThat(get(mirror.mirrorUri("/v2/", registry.hostPort())).statusCode()).isEqualTo(200);
    }

    @Test
    void aConnectionThatTricklesItsRequestIsClosed() throws Exception {
        mirror.close();
        mirror = new MirrorFixture(dir.resolve("slow"), "https://registry.invalid", List.of(registry.hostPort()), Duration.ofMillis(500));
        try (RawClient raw = new RawClient(mirror.port())) {
            raw.send("GET /v2/ HTTP/1.1\r\nHost: m\r\n");
            InputStream in = raw.input();
            await().atMost(Duration.ofSeconds(5)).until(() -> in.read() < 0);
        }
    }

    @Test
    void anAbsoluteUrlIsProxiedAndItsBlobGoesThroughP2p() throws Exception {
        byte[] content = random(MIB, 9);
        String digest = registry.blob("library/app", content);
        try (RawClient raw = new RawClient(mirror.port())) {
            raw.send("GET " + registry.base() + "/v2/library/app/blobs/" + digest + " HTTP/1.1\r\nHost: " + registry.hostPort()
                    + "\r\n\r\n");
            RawClient.Reply reply = raw.replyHead();
            assertThat(reply.status()).isEqualTo(200);
            assertThat(reply.header(Exchange.SOURCE)).containsExactly("origin");
            assertThat(raw.readBody(content.length)).isEqualTo(content);
        }
    }

    @Test
    void aPushIsStreamedToTheRegistryAsItArrivesWithItsLengthAndAHundredContinue() throws Exception {
        String path = "/v2/library/app/blobs/uploads/1";
        FakeRegistry.Upload upload = registry.upload(path);
        byte[] layer = random(24 * MIB, 11);
        try (RawClient raw = new RawClient(mirror.port())) {
            raw.send("PUT " + path + "?digest=sha256:" + FakeRegistry.sha256(layer) + "&ns=" + registry.hostPort() + " HTTP/1.1\r\n"
                    + "Host: m\r\nContent-Type: application/octet-stream\r\nContent-Length: " + layer.length
                    + "\r\nExpect: 100-continue\r\n\r\n");
            assertThat(raw.replyHead().status()).isEqualTo(100);
            raw.send(Arrays.copyOf(layer, 12 * MIB));
            // Half the layer is in the mirror: the registry has bytes of it before the client sent the rest.
            await().atMost(Duration.ofSeconds(10)).until(() -> upload.received.get() >= 4 * MIB);
            assertThat(upload.sha256).isNotDone();
            raw.send(Arrays.copyOfRange(layer, 12 * MIB, layer.length));

            RawClient.Reply reply = raw.replyHead();
            assertThat(reply.status()).isEqualTo(201);
            assertThat(reply.header("Docker-Content-Digest")).containsExactly("sha256:" + FakeRegistry.sha256(layer));
        }
        assertThat(upload.received.get()).isEqualTo(layer.length);
        assertThat(registry.requestsTo("PUT", path).getFirst().header("Content-Length"))
                .containsExactly(String.valueOf(layer.length));
    }

    @Test
    void aChunkedPushIsStreamedAndTheConnectionServesTheNextRequest() throws Exception {
        String path = "/v2/library/app/blobs/uploads/2";
        FakeRegistry.Upload upload = registry.upload(path);
        byte[] part = random(3 * MIB, 12);
        registry.handle("/v2/", s -> FakeRegistry.Answer.of(200, "{}"));
        try (RawClient raw = new RawClient(mirror.port())) {
            raw.send("PATCH " + path + "?ns=" + registry.hostPort() + " HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: chunked\r\n\r\n");
            for (int at = 0; at < part.length; at += MIB) {
                raw.send(Integer.toHexString(MIB) + "\r\n");
                raw.send(Arrays.copyOfRange(part, at, at + MIB));
                raw.send("\r\n");
            }
            raw.send("0\r\n\r\n");
            assertThat(raw.replyHead().status()).isEqualTo(201);

            raw.send("GET /v2/?ns=" + registry.hostPort() + " HTTP/1.1\r\nHost: m\r\n\r\n");
            assertThat(raw.reply().status()).isEqualTo(200);
        }
        assertThat(upload.sha256.get(10, java.util.concurrent.TimeUnit.SECONDS)).isEqualTo(FakeRegistry.sha256(part));
    }

    @Test
    void aPushThatStallsMidBodyIsCutAfterTheIdleTimeoutAndTheMirrorKeepsServing() throws Exception {
        mirror.close();
        mirror = new MirrorFixture(dir.resolve("stall"), "https://registry.invalid", List.of(registry.hostPort()), Duration.ofMillis(500));
        String path = "/v2/library/app/blobs/uploads/3";
        FakeRegistry.Upload upload = registry.upload(path);
        try (RawClient raw = new RawClient(mirror.port())) {
            raw.send("PUT " + path + "?ns=" + registry.hostPort() + " HTTP/1.1\r\nHost: m\r\nContent-Length: " + (4 * MIB)
                    + "\r\n\r\n");
            raw.send(random(MIB, 13));
            RawClient.Reply reply = raw.reply();
            assertThat(reply.status()).isEqualTo(408);
            assertThat(reply.header(Exchange.REASON)).containsExactly("client_body");
            assertThat(new String(reply.body())).contains("sent no more of its request body", "proxy.server.idleTimeout");
            assertThat(raw.input().read()).as("the connection, closed").isEqualTo(-1);
        }
        assertThat(upload.sha256).as("a body cut short is never taken as whole").isNotDone();
        registry.handle("/v2/", s -> FakeRegistry.Answer.of(200, "{}"));
        assertThat(get(mirror.mirrorUri("/v2/", registry.hostPort())).statusCode()).isEqualTo(200);
    }
}
