package dev.pollen.agent.preheat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * From an image reference to the blobs a node needs to run it: the manifest (through the index's entry for
 * the platform when the reference names an index), then its config and every layer. Content fetched by
 * digest is checked against that digest.
 */
final class ImageResolver {
    private static final Pattern SHA256 = Pattern.compile("sha256:[a-f0-9]{64}");

    /** One blob of the image: the config or a layer. */
    record Blob(String digest, long size, String mediaType) {
    }

    /**
     * @param platform the index entry's platform that was chosen, or null when the reference named a manifest
     */
    record Resolved(ImageReference image, String manifestDigest, Platform platform, List<Blob> blobs) {
        long bytes() {
            return blobs.stream().mapToLong(Blob::size).sum();
        }
    }

    private final RegistryClient registry;
    private final ObjectMapper json = new ObjectMapper();

    ImageResolver(RegistryClient registry) {
        this.registry = registry;
    }

    Resolved resolve(ImageReference image, Platform wanted) throws RegistryException {
        String reference = image.manifestReference();
        RegistryClient.Fetched top = fetch(image, reference);
        JsonNode doc = parse(top, image, reference);
        String kind = kind(top, doc);
        String digest = sha256(top.body());
        Platform chosen = null;
        if (kind.equals("index")) {
            JsonNode entry = pick(doc, wanted, image);
            chosen = platformOf(entry);
            reference = digestOf(entry.path("digest").asText(), image, "the index entry for " + chosen);
            RegistryClient.Fetched manifest = fetch(image, reference);
            doc = parse(manifest, image, reference);
            if (!kind(manifest, doc).equals("manifest")) {
                throw new RegistryException("the index entry for " + chosen + " of " + image + " is not an image manifest ("
                        + manifest.mediaType() + ")");
            }
            digest = reference;
        } else if (!kind.equals("manifest")) {
            throw new RegistryException(image + " is a " + kind + ", not an image (media type " + top.mediaType() + ")");
        }
        Set<Blob> blobs = new LinkedHashSet<>();
        blobs.add(blob(doc.path("config"), image, "config"));
        JsonNode layers = doc.path("layers");
        for (int i = 0; i < layers.size(); i++) {
            blobs.add(blob(layers.get(i), image, "layers[" + i + "]"));
        }
        return new Resolved(image, digest, chosen, List.copyOf(blobs));
    }

    private RegistryClient.Fetched fetch(ImageReference image, String reference) throws RegistryException {
        RegistryClient.Fetched fetched = registry.manifest(image, reference);
        if (reference.startsWith("sha256:") && !sha256(fetched.body()).equals(reference)) {
            throw new RegistryException("manifest " + reference + " of " + image + " does not match its digest (it hashes to "
                    + sha256(fetched.body()) + ")");
        }
        return fetched;
    }

    private JsonNode parse(RegistryClient.Fetched fetched, ImageReference image, String reference) throws RegistryException {
        try {
            JsonNode doc = json.readTree(fetched.body());
            if (doc == null || !doc.isObject()) {
                throw new RegistryException("manifest " + reference + " of " + image + " is not a JSON object");
            }
            return doc;
        } catch (IOException e) {
            throw new RegistryException("manifest " + reference + " of " + image + " is not JSON: " + e.getMessage());
        }
    }

    /** "index", "manifest", or what else it is: by Content-Type, else by its own mediaType, else by its shape. */
    private static String kind(RegistryClient.Fetched fetched, JsonNode doc) {
        String type = fetched.mediaType().isEmpty() || fetched.mediaType().equals("application/json")
                ? doc.path("mediaType").asText("") : fetched.mediaType();
        return switch (type) {
            case RegistryClient.OCI_INDEX, RegistryClient.DOCKER_LIST -> "index";
            case RegistryClient.OCI_MANIFEST, RegistryClient.DOCKER_MANIFEST -> "manifest";
            case "application/vnd.docker.distribution.manifest.v1+json", "application/vnd.docker.distribution.manifest.v1+prettyjws" ->
                    "Docker schema 1 manifest (unsupported since containerd 2.0)";
            case "" -> doc.has("manifests") ? "index" : doc.has("layers") ? "manifest" : "document of unknown kind";
            default -> "document of media type " + type;
        };
    }

    private static JsonNode pick(JsonNode index, Platform wanted, ImageReference image) throws RegistryException {
        Set<String> offered = new LinkedHashSet<>();
        for (JsonNode entry : index.path("manifests")) {
            Platform p = platformOf(entry);
            if (p == null) {
                continue;
            }
            if (wanted.matches(p)) {
                return entry;
            }
            // buildkit's attestation manifests say unknown/unknown: no platform anyone asks for
            if (!p.os().equals("unknown")) {
                offered.add(p.toString());
            }
        }
        throw new RegistryException("no manifest for platform " + wanted + " in " + image + " (the index has: "
                + (offered.isEmpty() ? "none" : String.join(", ", offered)) + "; fix: --platform)");
    }

    private static Platform platformOf(JsonNode entry) {
        JsonNode p = entry.path("platform");
        if (!p.hasNonNull("os") || !p.hasNonNull("architecture")) {
            return null;
        }
        return new Platform(p.path("os").asText(), p.path("architecture").asText(), p.path("variant").asText(null));
    }

    private static Blob blob(JsonNode descriptor, ImageReference image, String where) throws RegistryException {
        String digest = digestOf(descriptor.path("digest").asText(""), image, "the manifest's " + where);
        long size = descriptor.path("size").asLong(-1);
        if (size < 0) {
            throw new RegistryException("the manifest's " + where + " of " + image + " has no size");
        }
        return new Blob(digest, size, descriptor.path("mediaType").asText(""));
    }

    /** Only sha256 digests: they become URL paths and the seeds' digest check. */
    private static String digestOf(String digest, ImageReference image, String where) throws RegistryException {
        if (!SHA256.matcher(digest).matches()) {
            throw new RegistryException(where + " of " + image + " has digest \"" + digest + "\" (expected: sha256:<64 hex digits>)");
        }
        return digest;
    }

    static String sha256(byte[] bytes) {
        try {
            return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
