package dev.pollen.agent.mirror;

import java.net.URI;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What an OCI distribution url names: the registry ({@code scheme://host[:port]}, and a path prefix if it has one), the repository, whether a blob or a
 * manifest, and its reference (a digest, or for a manifest also a tag). Access is granted by registries per
 * repository, so this is the unit the mirror checks and remembers access for.
 */
record RegistryObject(String registry, String repository, Kind kind, String reference) {
    private static final Pattern PATH = Pattern.compile("(.*?)/v2/(.+)/(blobs|manifests)/([^/]+)");
    private static final Pattern SHA256 = Pattern.compile("sha256:([0-9a-f]{64})");

    enum Kind { BLOB, MANIFEST }

    /** The object {@code upstream} names, or null for any other url (a ping, a tag list, a token endpoint). */
    static RegistryObject of(URI upstream) {
        Matcher m = PATH.matcher(upstream.getRawPath() == null ? "" : upstream.getRawPath());
        if (!m.matches()) {
            return null;
        }
        // A registry may live under a path (a proxy's /prefix/v2/...): the prefix is part of its root.
        String registry = upstream.getScheme().toLowerCase(Locale.ROOT) + "://" + upstream.getRawAuthority().toLowerCase(Locale.ROOT)
                + m.group(1);
        return new RegistryObject(registry, m.group(2), m.group(3).equals("blobs") ? Kind.BLOB : Kind.MANIFEST, m.group(4));
    }

    /** The hex of a {@code sha256:} reference, or null for a tag (or another algorithm). */
    String sha256Hex() {
        Matcher m = SHA256.matcher(reference);
        return m.matches() ? m.group(1) : null;
    }

    /** The registry's API root, which answers whether it asks anyone for credentials at all. */
    URI ping() {
        return URI.create(registry + "/v2/");
    }
}
