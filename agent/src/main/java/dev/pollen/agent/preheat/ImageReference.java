package dev.pollen.agent.preheat;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An image reference as docker and containerd read it ({@code [registry/]name[:tag][@sha256:hex]}), with
 * their defaults: no registry is Docker Hub ({@code docker.io}, served at {@code registry-1.docker.io}), a
 * one-component name there is under {@code library/}, no tag and no digest is {@code latest}. The first
 * component names a registry when it has a dot or a port, or is {@code localhost} (distribution/reference's rule).
 *
 * @param registry the registry as named ({@code docker.io}, {@code ghcr.io}, {@code 127.0.0.1:5000})
 * @param repository the repository path ({@code library/alpine})
 * @param tag the tag, or null when only a digest was given
 * @param digest {@code sha256:<hex>}, or null
 */
public record ImageReference(String registry, String repository, String tag, String digest) {
    public static final String DOCKER_HUB = "docker.io";
    private static final String EXPECTED = "(expected: [registry[:port]/]name[:tag][@sha256:<64 hex digits>])";
    private static final Pattern COMPONENT = Pattern.compile("[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*");
    private static final Pattern TAG = Pattern.compile("[\\w][\\w.-]{0,127}");
    private static final Pattern DIGEST = Pattern.compile("sha256:[a-f0-9]{64}");
    private static final Pattern HOST = Pattern.compile("(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
            + "|\\[[0-9a-fA-F:.]+\\])(?::(\\d{1,5}))?");

    public static ImageReference parse(String text) {
        if (text == null || text.isBlank() || !text.equals(text.strip())) {
            throw invalid(text, "empty or surrounded by spaces");
        }
        String rest = text;
        String digest = null;
        int at = rest.indexOf('@');
        if (at >= 0) {
            digest = rest.substring(at + 1);
            rest = rest.substring(0, at);
            if (!DIGEST.matcher(digest).matches()) {
                throw invalid(text, "digest " + digest + " is not sha256:<64 lowercase hex digits>");
            }
        }
        String tag = null;
        int colon = rest.lastIndexOf(':');
        if (colon > rest.lastIndexOf('/')) {
            tag = rest.substring(colon + 1);
            rest = rest.substring(0, colon);
            if (!TAG.matcher(tag).matches()) {
                throw invalid(text, "tag " + tag + " has characters a tag may not have, or more than 128");
            }
        }
        String registry = DOCKER_HUB;
        int slash = rest.indexOf('/');
        if (slash > 0) {
            String first = rest.substring(0, slash);
            if (first.contains(".") || first.contains(":") || first.equals("localhost") || first.startsWith("[")) {
                Matcher host = HOST.matcher(first);
                if (!host.matches() || host.group(1) != null && Integer.parseInt(host.group(1)) > 65535) {
                    throw invalid(text, "registry " + first + " is not a host[:port]");
                }
                registry = first.equals("index.docker.io") ? DOCKER_HUB : first;
                rest = rest.substring(slash + 1);
            }
        }
        if (rest.isEmpty()) {
            throw invalid(text, "no repository name");
        }
        for (String component : rest.split("/", -1)) {
            if (!COMPONENT.matcher(component).matches()) {
                throw invalid(text, "name component \"" + component + "\" is not lowercase letters, digits and separators");
            }
        }
        if (registry.equals(DOCKER_HUB) && !rest.contains("/")) {
            rest = "library/" + rest;
        }
        if (rest.length() > 255) {
            throw invalid(text, "the repository name is longer than 255 characters");
        }
        if (tag == null && digest == null) {
            tag = "latest";
        }
        return new ImageReference(registry, rest, tag, digest);
    }

    /** The host[:port] that serves the registry's API: Docker Hub's {@code docker.io} is served at {@code registry-1.docker.io}. */
    public String endpoint() {
        return registry.equals(DOCKER_HUB) ? "registry-1.docker.io" : registry;
    }

    /** What the manifest is fetched by: the digest when given (it pins the content), else the tag. */
    public String manifestReference() {
        return digest != null ? digest : tag;
    }

    /** @param reference a tag or a digest */
    public String manifestUrl(String scheme, String reference) {
        return scheme + "://" + endpoint() + "/v2/" + repository + "/manifests/" + reference;
    }

    public String blobUrl(String scheme, String blobDigest) {
        return scheme + "://" + endpoint() + "/v2/" + repository + "/blobs/" + blobDigest;
    }

    /** The fully qualified form, as containerd names the image ({@code docker.io/library/alpine:3.20}). */
    @Override
    public String toString() {
        return registry + "/" + repository + (tag != null ? ":" + tag : "") + (digest != null ? "@" + digest : "");
    }

    private static IllegalArgumentException invalid(String text, String why) {
        return new IllegalArgumentException("invalid image reference \"" + text + "\": " + why + " " + EXPECTED);
    }
}
