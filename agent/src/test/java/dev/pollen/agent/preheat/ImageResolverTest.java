package dev.pollen.agent.preheat;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Resolution and the token flow against an in-process registry ({@link FakeRegistry}). */
class ImageResolverTest {
    static final String CONFIG = "sha256:" + "c".repeat(64);
    static final String LAYER_1 = "sha256:" + "1".repeat(64);
    static final String LAYER_2 = "sha256:" + "2".repeat(64);

    private final FakeRegistry registry = new FakeRegistry();
    private final HttpClient http = HttpClient.newHttpClient();

    @TempDir
    Path dir;

    @AfterEach
    void stop() {
        registry.close();
        http.close();
    }

    static String manifest(String mediaType, String config, String... layers) {
        StringBuilder b = new StringBuilder("{\"schemaVersion\":2,\"mediaType\":\"" + mediaType + "\",\"config\":{\"mediaType\":"
                + "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" + config + "\",\"size\":300},\"layers\":[");
        for (int i = 0; i < layers.length; i++) {
            b.append(i == 0 ? "" : ",").append("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"")
                    .append(layers[i]).append("\",\"size\":").append(1000 * (i + 1)).append('}');
        }
        return b.append("]}").toString();
    }

    static String index(String... entries) {
        return "{\"schemaVersion\":2,\"mediaType\":\"" + RegistryClient.OCI_INDEX + "\",\"manifests\":[" + String.join(",", entries) + "]}";
    }

    static String entry(String digest, String os, String arch, String variant) {
        return "{\"mediaType\":\"" + RegistryClient.OCI_MANIFEST + "\",\"digest\":\"" + digest + "\",\"size\":500,\"platform\":{\"os\":\""
                + os + "\",\"architecture\":\"" + arch + "\"" + (variant != null ? ",\"variant\":\"" + variant + "\"" : "") + "}}";
    }

    private ImageResolver.Resolved resolve(String ref, String platform, Credentials credentials) throws RegistryException {
        RegistryClient client = new RegistryClient(http, true, credentials);
        return new ImageResolver(client).resolve(ImageReference.parse(registry.authority() + "/" + ref), Platform.parse(platform));
    }

    @Test
    void aManifestByTagGivesItsConfigAndLayersAsBlobs() throws Exception {
        String digest = registry.put("app", "1", RegistryClient.DOCKER_MANIFEST, manifest(RegistryClient.DOCKER_MANIFEST, CONFIG, LAYER_1, LAYER_2));

        ImageResolver.Resolved r = resolve("app:1", "linux/amd64", null);

        assertThat(r.manifestDigest()).isEqualTo(digest);
        assertThat(r.platform()).as("no index, no platform chosen").isNull();
        assertThat(r.blobs()).extracting(ImageResolver.Blob::digest).containsExactly(CONFIG, LAYER_1, LAYER_2);
        assertThat(r.bytes()).isEqualTo(300 + 1000 + 2000);
        assertThat(registry.requests).singleElement().asString().startsWith("GET /v2/app/manifests/1");
    }

    @Test
    void everyAcceptValueContainerdSendsGoesToTheRegistry() {
        assertThat(RegistryClient.MANIFEST_ACCEPT).isEqualTo("application/vnd.docker.distribution.manifest.v2+json, "
                + "application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, "
                + "application/vnd.oci.image.index.v1+json, */*");
    }

    @Test
    void anIndexGivesTheManifestOfThePlatformAsked() throws Exception {
        String amd = registry.put("app", null, RegistryClient.OCI_MANIFEST, manifest(RegistryClient.OCI_MANIFEST, CONFIG, LAYER_1));
        String armV7 = registry.put("app", null, RegistryClient.OCI_MANIFEST, manifest(RegistryClient.OCI_MANIFEST, CONFIG, LAYER_2));
        String arm64 = registry.put("app", null, RegistryClient.OCI_MANIFEST, manifest(RegistryClient.OCI_MANIFEST, CONFIG, LAYER_1, LAYER_2));
        registry.put("app", "multi", RegistryClient.OCI_INDEX, index(entry(amd, "linux", "amd64", null), entry(armV7, "linux", "arm", "v7"),
                entry(arm64, "linux", "arm64", "v8"), entry("sha256:" + "9".repeat(64), "unknown", "unknown", null)));

        assertThat(resolve("app:multi", "linux/amd64", null).manifestDigest()).isEqualTo(amd);
        assertThat(resolve("app:multi", "linux/x86_64", null).manifestDigest()).as("alias").isEqualTo(amd);
        assertThat(resolve("app:multi", "linux/arm/v7", null).blobs()).extracting(ImageResolver.Blob::digest).containsExactly(CONFIG, LAYER_2);
        ImageResolver.Resolved a64 = resolve("app:multi", "linux/aarch64", null);
        assertThat(a64.manifestDigest()).as("no variant asked: any variant").isEqualTo(arm64);
        assertThat(a64.platform()).isEqualTo(new Platform("linux", "arm64", "v8"));
        assertThatThrownBy(() -> resolve("app:multi", "linux/arm64/v9", null)).isInstanceOf(RegistryException.class);
    }

    @Test
    void anUnknownPlatformListsThePlatformsTheIndexHas() {
        String amd = registry.put("app", null, RegistryClient.OCI_MANIFEST, manifest(RegistryClient.OCI_MANIFEST, CONFIG, LAYER_1));
        registry.put("app", "multi", RegistryClient.DOCKER_LIST, index(entry(amd, "linux", "amd64", null), entry(amd, "linux", "arm", "v7"),
                entry(amd, "unknown", "unknown", null)));

        assertThatThrownBy(() -> resolve("app:multi", "linux/s390x", null)).isInstanceOf(RegistryException.class)
                .hasMessage("no manifest for platform linux/s390x in " + registry.authority() + "/app:multi (the index has: "
                        + "linux/amd64, linux/arm/v7; fix: --platform)");
    }

    @Test
    void contentThatDoesNotMatchItsDigestIsRefused() {
        String real = registry.put("app", null, RegistryClient.OCI_MANIFEST, manifest(RegistryClient.OCI_MANIFEST, CONFIG, LAYER_1));
        String forged = "sha256:" + "f".repeat(64);
        registry.put("app", "multi", RegistryClient.OCI_INDEX, index(entry(forged, "linux", "amd64", null)));
        // the registry serves other content under the forged digest's name
        registry.put("app", forged, RegistryClient.OCI_MANIFEST, manifest(RegistryClient.OCI_MANIFEST, CONFIG, LAYER_2));

        assertThat(real).isNotEqualTo(forged);
        assertThatThrownBy(() -> resolve("app:multi", "linux/amd64", null)).hasMessageContaining("does not match its digest");
    }

    @Test
    void aBlobDigestThatIsNotSha256IsRefusedBeforeItBecomesAUrl() {
        registry.put("app", "1", RegistryClient.OCI_MANIFEST, manifest(RegistryClient.OCI_MANIFEST, "sha256:../../etc", LAYER_1));

        assertThatThrownBy(() -> resolve("app:1", "linux/amd64", null))
                .hasMessageContaining("has digest \"sha256:../../etc\" (expected: sha256:<64 hex digits>)");
    }

    @Test
    void anAnonymousTokenIsFetchedOnA401AndKeptForTheSeeds() throws Exception {
        registry.requireToken(null, null);
        registry.put("team/app", "1", RegistryClient.OCI_MANIFEST, manifest(RegistryClient.OCI_MANIFEST, CONFIG, LAYER_1));
        RegistryClient client = new RegistryClient(http, true, null);

        new ImageResolver(client).resolve(ImageReference.parse(registry.authority() + "/team/app:1"), Platform.parse("linux/amd64"));

        assertThat(client.authorization()).contains("Bearer " + FakeRegistry.TOKEN);
        assertThat(registry.requests).hasSize(3);
        assertThat(registry.requests.get(1)).as("the token request, with the challenge's scope and service and no credentials")
                .isEqualTo("GET /token?scope=repository%3Ateam%2Fapp%3Apull&service=fake-registry");
        assertThat(registry.requests.get(2)).endsWith("auth=Bearer " + FakeRegistry.TOKEN);
    }

    @Test
    void credentialsGoToTheTokenEndpointAsBasic() throws Exception {
        registry.requireToken("ann", "s3cret");
        registry.put("app", "1", RegistryClient.OCI_MANIFEST, manifest(RegistryClient.OCI_MANIFEST, CONFIG, LAYER_1));

        resolve("app:1", "linux/amd64", new Credentials("ann", "s3cret"));

        assertThat(registry.requests.get(1)).endsWith("auth=Basic " + Base64.getEncoder().encodeToString("ann:s3cret".getBytes()));
    }

    @Test
    void a401WithoutCredentialsSaysCredentialsAreNeededAndWrongOnesSayRefused() {
        registry.requireToken("ann", "s3cret");
        registry.put("app", "1", RegistryClient.OCI_MANIFEST, manifest(RegistryClient.OCI_MANIFEST, CONFIG, LAYER_1));

        assertThatThrownBy(() -> resolve("app:1", "linux/amd64", null))
                .hasMessage("registry " + registry.authority() + " needs credentials for app (token endpoint answered 401;"
                        + " fix: --username with --password-stdin, or --registry-config)");
        assertThatThrownBy(() -> resolve("app:1", "linux/amd64", new Credentials("ann", "wrong")))
                .hasMessage("registry " + registry.authority() + " refused the credentials of ann for app (token endpoint answered 401)");
    }

    @Test
    void aBasicChallengeTakesTheCredentialsDirectly() throws Exception {
        registry.requireBasic("ann", "pw");
        registry.put("app", "1", RegistryClient.OCI_MANIFEST, manifest(RegistryClient.OCI_MANIFEST, CONFIG, LAYER_1));
        RegistryClient client = new RegistryClient(http, true, new Credentials("ann", "pw"));

        new ImageResolver(client).resolve(ImageReference.parse(registry.authority() + "/app:1"), Platform.parse("linux/amd64"));

        assertThat(client.authorization()).contains(new Credentials("ann", "pw").basic());
        assertThatThrownBy(() -> resolve("app:1", "linux/amd64", null)).hasMessageContaining("needs credentials for app (401, Basic");
    }

    @Test
    void aMissingTagIsNotFoundNamingTheRepository() {
        assertThatThrownBy(() -> resolve("app:nope", "linux/amd64", null))
                .hasMessageStartingWith("manifest nope not found in " + registry.authority() + "/app (404 from http://");
    }

    @Test
    void dockerConfigAuthsAreFoundByRegistryWithOrWithoutSchemeAndDockerHubByItsV1Key() throws Exception {
        Path file = dir.resolve("config.json");
        Files.writeString(file, "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\""
                + Base64.getEncoder().encodeToString("hub:pw1".getBytes()) + "\"},\"http://127.0.0.1:5000\":{\"username\":\"u\",\"password\":\"p\"},"
                + "\"ghcr.io\":{\"auth\":\"" + Base64.getEncoder().encodeToString("g:p:with:colons".getBytes()) + "\"}}}");

        assertThat(DockerConfig.lookup(file, "docker.io")).contains(new Credentials("hub", "pw1"));
        assertThat(DockerConfig.lookup(file, "127.0.0.1:5000")).contains(new Credentials("u", "p"));
        assertThat(DockerConfig.lookup(file, "ghcr.io")).contains(new Credentials("g", "p:with:colons"));
        assertThat(DockerConfig.lookup(file, "quay.io")).isEmpty();
    }
}
