package dev.pollen.agent.mirror;

import dev.pollen.agent.config.ProxyConfig;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Which registry a mirror request goes to: the {@code ns} query parameter containerd adds (a host, or host:port), else
 * Dragonfly's {@code X-Dragonfly-Registry} header (a url with its scheme), else {@code proxy.registryMirror.addr}.
 * {@code docker.io} is a name, not a host: its registry is {@code registry-1.docker.io}. Registries are spoken to over
 * https unless {@code proxy.registryMirror.insecureRegistries} lists them.
 */
final class Registries {
    static final String REGISTRY_HEADER = "X-Dragonfly-Registry";
    private static final Pattern HOST_PORT = Pattern.compile("([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
            + "|\\[[0-9A-Fa-f:.]+\\])(:\\d{1,5})?");

    private final String defaultBase;
    private final Set<String> insecure;

    Registries(ProxyConfig.RegistryMirror config) {
        this.defaultBase = config.addr();
        this.insecure = Set.copyOf(config.insecureRegistries());
    }

    /**
     * The base url ({@code scheme://host[:port]}) of the registry.
     *
     * @param ns the decoded {@code ns} parameter, or null
     * @param header the {@code X-Dragonfly-Registry} header, or null
     * @throws IllegalArgumentException naming what is wrong with a given {@code ns} or header
     */
    String base(String ns, String header) {
        if (ns != null) {
            String host = ns.trim().toLowerCase(Locale.ROOT);
            if (!HOST_PORT.matcher(host).matches()) {
                throw new IllegalArgumentException("ns=" + ns + " is not a registry host (expected: host or host:port, e.g. docker.io)");
            }
            if (host.equals("docker.io")) {
                host = "registry-1.docker.io";
            }
            return (insecure.contains(host) || insecure.contains(hostOnly(host)) ? "http://" : "https://") + host;
        }
        if (header != null) {
            try {
                URI uri = new URI(header.trim());
                String scheme = String.valueOf(uri.getScheme()).toLowerCase(Locale.ROOT);
                if ((scheme.equals("http") || scheme.equals("https")) && uri.getHost() != null) {
                    return scheme + "://" + uri.getRawAuthority();
                }
            } catch (URISyntaxException e) {
                // reported below
            }
            throw new IllegalArgumentException(REGISTRY_HEADER + ": " + header
                    + " is not a registry url (expected: http:// or https:// and a host, e.g. https://ghcr.io)");
        }
        return defaultBase;
    }

    private static String hostOnly(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        return colon > 0 && !hostPort.endsWith("]") ? hostPort.substring(0, colon) : hostPort;
    }
}
