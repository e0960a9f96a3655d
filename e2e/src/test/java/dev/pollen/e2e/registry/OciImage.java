package dev.pollen.e2e.registry;

import dev.pollen.e2e.Netns;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.stream.Collectors;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;

/**
 * A container image built on this machine as an OCI image layout (nothing can be pulled from the internet):
 * {@code oci-layout}, {@code index.json} and {@code blobs/sha256/}, with gzip'd tar layers that each hold one file
 * of seeded random (incompressible) bytes, {@code /data/layer<N>.bin}, a config whose {@code rootfs.diff_ids}
 * are the uncompressed tars' digests, and an OCI manifest per platform; with more than one platform, an OCI image
 * index over them is what the tag names. Pushed with skopeo, as a CI job pushes an image.
 *
 * <pre>{@code
 * OciImage image = OciImage.builder(tmp).layers(24 * MiB, 20 * MiB, 16 * MiB).build();
 * String ref = image.push(registry, "team/app", "v1");   // "127.0.0.1:PORT/team/app:v1"
 * image.digest();                                       // what the tag resolves to
 * image.manifest().layers().getFirst().digest();        // "sha256:..."
 * }</pre>
 */
public final class OciImage {
    public static final long MiB = 1024 * 1024;
    public static final String MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";
    public static final String INDEX_TYPE = "application/vnd.oci.image.index.v1+json";
    public static final String CONFIG_TYPE = "application/vnd.oci.image.config.v1+json";
    public static final String LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip";
    /** The name the image has inside its layout ({@code oci:DIR:image}); the tag it is pushed as is the caller's. */
    private static final String LAYOUT_REF = "image";

    /** One layer: its blob (gzip'd tar) and the file it holds. */
    public record Layer(String digest, long size, String diffId, String file, long fileSize) {
    }

    /** One platform's image: its manifest blob, its config blob and its layers, base first. */
    public record Manifest(String platform, String digest, long size, String configDigest, List<Layer> layers) {
        /** The sum of the layer blobs' sizes: what a registry sends for one pull of this platform. */
        public long layerBytes() {
            return layers.stream().mapToLong(Layer::size).sum();
        }
    }

    private final Path dir;
    private final String digest;
    private final String mediaType;
    private final List<Manifest> manifests;

    private OciImage(Path dir, String digest, String mediaType, List<Manifest> manifests) {
        this.dir = dir;
        this.digest = digest;
        this.mediaType = mediaType;
        this.manifests = List.copyOf(manifests);
    }

    /** An image to be written into the new directory {@code dir} (it must not exist or be empty). */
    public static Builder builder(Path dir) {
        return new Builder(dir);
    }

    /** This machine's platform as OCI names it, e.g. {@code linux/amd64}: what containerd pulls by default. */
    public static String hostPlatform() {
        String arch = System.getProperty("os.arch").toLowerCase(Locale.ROOT);
        return "linux/" + switch (arch) {
            case "x86_64", "amd64" -> "amd64";
            case "aarch64", "arm64" -> "arm64";
            default -> arch;
        };
    }

    public Path dir() {
        return dir;
    }

    /** What the tag resolves to: the manifest's digest, or the index's when there are several platforms. */
    public String digest() {
        return digest;
    }

    /** {@link #MANIFEST_TYPE} or {@link #INDEX_TYPE}. */
    public String mediaType() {
        return mediaType;
    }

    /** Every platform's manifest, in the order given to {@link Builder#platforms}. */
    public List<Manifest> manifests() {
        return manifests;
    }

    /** The manifest of this machine's platform (what containerd pulls here), else the first one. */
    public Manifest manifest() {
        return manifests.stream().filter(m -> m.platform().equals(hostPlatform())).findFirst().orElse(manifests.getFirst());
    }

    /** The path of a blob in the layout. */
    public Path blob(String digest) {
        return dir.resolve("blobs/sha256").resolve(digest.substring("sha256:".length()));
    }

    /**
     * Pushes every platform to {@code registry} as {@code name:tag} with skopeo (with the registry's credentials
     * when it has any), digests preserved, and returns the reference to pull: {@code HOST:PORT/name:tag}.
     */
    public String push(Registry registry, String name, String tag) {
        Commands.check(Duration.ofSeconds(120), pushCommand(registry, name, tag, registry.credentials()));
        return registry.ref(name, tag);
    }

    /** Runs the push with {@code credentials} (empty: anonymously) whatever the registry wants, and tells how it ended. */
    public Commands.Result tryPush(Registry registry, String name, String tag, Optional<Registry.Credentials> credentials) {
        return Commands.run(Duration.ofSeconds(120), pushCommand(registry, name, tag, credentials));
    }

    /**
     * Pushes as {@link #push} does, but from {@code node} through the plain HTTP proxy at {@code proxy} (skopeo's
     * {@code HTTP_PROXY}), as a CI runner behind a proxy would; tells how it ended.
     */
    public Commands.Result pushThrough(Netns.Node node, String proxy, Registry registry, String name, String tag) {
        List<String> cmd = new ArrayList<>(node.exec(List.of("env", "HTTP_PROXY=" + proxy, "http_proxy=" + proxy, "NO_PROXY=",
                "no_proxy=")));
        cmd.addAll(pushCommand(List.of(), registry, name, tag, registry.credentials()));
        return Commands.run(Duration.ofSeconds(120), cmd);
    }

    private List<String> pushCommand(Registry registry, String name, String tag, Optional<Registry.Credentials> credentials) {
        return pushCommand(registry.launcher(), registry, name, tag, credentials);
    }

    private List<String> pushCommand(List<String> launcher, Registry registry, String name, String tag,
                                     Optional<Registry.Credentials> credentials) {
        List<String> cmd = new ArrayList<>(launcher);
        // --insecure-policy: no signature policy applies to an image built by the test itself.
        cmd.addAll(List.of(Commands.binary("skopeo", "skopeo"), "--insecure-policy", "copy", "--all", "--preserve-digests",
                "--dest-tls-verify=false"));
        credentials.ifPresentOrElse(c -> cmd.addAll(List.of("--dest-creds", c.userColonPassword())),
                () -> cmd.add("--dest-no-creds"));
        cmd.addAll(List.of("oci:" + dir + ":" + LAYOUT_REF, "docker://" + registry.ref(name, tag)));
        return cmd;
    }

    @Override
    public String toString() {
        return "OciImage[" + digest + ", " + manifests.stream()
                .map(m -> m.platform() + ": " + m.layers().size() + " layers, " + m.layerBytes() + " B")
                .collect(Collectors.joining("; ")) + "]";
    }

    /** What to build. Defaults: {@link #hostPlatform()} only, layers of 24, 20 and 16 MiB (60 MiB), seed 1. */
    public static final class Builder {
        private final Path dir;
        private List<String> platforms = List.of(hostPlatform());
        private long[] layerSizes = {24 * MiB, 20 * MiB, 16 * MiB};
        private long seed = 1;

        private Builder(Path dir) {
            this.dir = dir;
        }

        /** The size of each layer's file, base layer first (each platform gets layers of these sizes). */
        public Builder layers(long... fileSizes) {
            if (fileSizes.length == 0) {
                throw new IllegalArgumentException("an image needs at least one layer");
            }
            this.layerSizes = fileSizes.clone();
            return this;
        }

        /** {@code os/arch} per platform, e.g. {@code linux/amd64}; more than one makes the tag name an index. */
        public Builder platforms(String... platforms) {
            if (platforms.length == 0) {
                throw new IllegalArgumentException("an image needs at least one platform");
            }
            this.platforms = List.of(platforms);
            return this;
        }

        /** The seed of the layers' content: images with different seeds share no layer. */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        public OciImage build() {
            try {
                Files.createDirectories(dir.resolve("blobs/sha256"));
                List<Manifest> manifests = new ArrayList<>();
                for (int p = 0; p < platforms.size(); p++) {
                    manifests.add(platform(platforms.get(p), seed * 1_000 + p));
                }
                Descriptor top;
                if (manifests.size() == 1) {
                    Manifest m = manifests.getFirst();
                    top = new Descriptor(MANIFEST_TYPE, m.digest(), m.size(), "");
                } else {
                    String entries = manifests.stream().map(m -> {
                        String[] osArch = m.platform().split("/", 2);
                        return new Descriptor(MANIFEST_TYPE, m.digest(), m.size(),
                                ",\"platform\":{\"architecture\":\"" + osArch[1] + "\",\"os\":\"" + osArch[0] + "\"}").json();
                    }).collect(Collectors.joining(","));
                    top = writeJson(INDEX_TYPE, "{\"schemaVersion\":2,\"mediaType\":\"" + INDEX_TYPE + "\",\"manifests\":["
                            + entries + "]}");
                }
                Files.writeString(dir.resolve("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
                Files.writeString(dir.resolve("index.json"), "{\"schemaVersion\":2,\"manifests\":["
                        + new Descriptor(top.mediaType(), top.digest(), top.size(),
                                ",\"annotations\":{\"org.opencontainers.image.ref.name\":\"" + LAYOUT_REF + "\"}").json()
                        + "]}");
                return new OciImage(dir, top.digest(), top.mediaType(), manifests);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        private Manifest platform(String platform, long platformSeed) throws IOException {
            String[] osArch = platform.split("/", 2);
            if (osArch.length != 2) {
                throw new IllegalArgumentException("platform " + platform + " (expected: os/arch)");
            }
            SplittableRandom random = new SplittableRandom(platformSeed);
            List<Layer> layers = new ArrayList<>();
            for (int i = 0; i < layerSizes.length; i++) {
                layers.add(layer(i, layerSizes[i], random));
            }
            String diffIds = layers.stream().map(l -> "\"" + l.diffId() + "\"").collect(Collectors.joining(","));
            Descriptor config = writeJson(CONFIG_TYPE, "{\"architecture\":\"" + osArch[1] + "\",\"os\":\"" + osArch[0]
                    + "\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[" + diffIds + "]}}");
            String layerJson = layers.stream().map(l -> new Descriptor(LAYER_TYPE, l.digest(), l.size(), "").json())
                    .collect(Collectors.joining(","));
            Descriptor manifest = writeJson(MANIFEST_TYPE, "{\"schemaVersion\":2,\"mediaType\":\"" + MANIFEST_TYPE
                    + "\",\"config\":" + config.json() + ",\"layers\":[" + layerJson + "]}");
            return new Manifest(platform, manifest.digest(), manifest.size(), config.digest(), layers);
        }

        /** A gzip'd tar of {@code data/} and {@code data/layer<i>.bin}, hashed both before and after gzip. */
        private Layer layer(int index, long fileSize, SplittableRandom random) throws IOException {
            String file = "data/layer" + index + ".bin";
            Path tmp = Files.createTempFile(dir.resolve("blobs/sha256"), "layer-", ".tmp");
            MessageDigest compressed = sha256();
            MessageDigest uncompressed = sha256();
            try (OutputStream fileOut = Files.newOutputStream(tmp);
                    DigestOutputStream blob = new DigestOutputStream(fileOut, compressed);
                    GZIPOutputStream gzip = new StoredGzip(blob);
                    DigestOutputStream tar = new DigestOutputStream(gzip, uncompressed)) {
                TarWriter writer = new TarWriter(tar);
                writer.directory("data");
                writer.file(file, fileSize);
                byte[] chunk = new byte[1 << 20];
                for (long left = fileSize; left > 0; ) {
                    int n = (int) Math.min(chunk.length, left);
                    random.nextBytes(chunk);
                    tar.write(chunk, 0, n);
                    left -= n;
                }
                writer.endFile();
                writer.finish();
            }
            String digest = "sha256:" + HexFormat.of().formatHex(compressed.digest());
            Files.move(tmp, blobPath(digest), StandardCopyOption.REPLACE_EXISTING);
            return new Layer(digest, Files.size(blobPath(digest)), "sha256:" + HexFormat.of().formatHex(uncompressed.digest()),
                    "/" + file, fileSize);
        }

        private Descriptor writeJson(String mediaType, String json) throws IOException {
            byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
            String digest = "sha256:" + HexFormat.of().formatHex(sha256().digest(bytes));
            Files.write(blobPath(digest), bytes);
            return new Descriptor(mediaType, digest, bytes.length, "");
        }

        private Path blobPath(String digest) {
            return dir.resolve("blobs/sha256").resolve(digest.substring("sha256:".length()));
        }
    }

    /** An OCI descriptor; {@code extra} is JSON members appended after size (a platform, annotations). */
    private record Descriptor(String mediaType, String digest, long size, String extra) {
        String json() {
            return "{\"mediaType\":\"" + mediaType + "\",\"digest\":\"" + digest + "\",\"size\":" + size + extra + "}";
        }
    }

    /**
     * gzip without compression: the layers' bytes are random and would not shrink, and stored deflate blocks
     * keep building a 60 MiB image well under a second. Still real gzip for every reader.
     */
    private static final class StoredGzip extends GZIPOutputStream {
        StoredGzip(OutputStream out) throws IOException {
            super(out, 1 << 16);
            def.setLevel(Deflater.NO_COMPRESSION);
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
