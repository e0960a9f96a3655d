package dev.pollen.agent.setup;

import java.util.regex.Pattern;

/**
 * A registry host as containerd names its {@code certs.d} directory ({@code docker.io}, {@code ghcr.io},
 * {@code 127.0.0.1:5000}), or {@code _default}, the directory containerd falls back to for every other host.
 *
 * @param server the {@code server} for its hosts.toml, or null for {@code _default}: there containerd fills
 *     in the registry that was asked for, which is what a fallback must reach
 */
record Registry(String name, String server) {
    static final String DEFAULT = "_default";
    private static final Pattern HOST = Pattern.compile("[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?");

    /** {@code plainHttp}: the registry speaks HTTP without TLS. */
    static Registry of(String name, boolean plainHttp) {
        if (name.equals(DEFAULT)) {
            return new Registry(name, null);
        }
        if (!HOST.matcher(name).matches()) {
            throw SetupException.badFlag("--registry " + name + ": not a registry host (expected: host or host:port,"
                    + " e.g. docker.io or 127.0.0.1:5000, without scheme or path)");
        }
        // containerd itself sends docker.io to registry-1.docker.io; the fallback must go there too.
        String host = name.equals("docker.io") ? "registry-1.docker.io" : name;
        return new Registry(name, (plainHttp ? "http://" : "https://") + host);
    }
}
