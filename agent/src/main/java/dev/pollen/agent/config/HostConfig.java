package dev.pollen.agent.config;

/**
 * {@code host.*}: how this node presents itself to the scheduler and other peers.
 *
 * @param ip the address peers reach this node at; empty for the first non-loopback address
 */
public record HostConfig(String ip, String idc, String location) {
    public HostConfig {
        Check.present("host.ip", ip);
        Check.present("host.idc", idc);
        Check.present("host.location", location);
        if (!ip.isEmpty() && !ip.matches("[0-9.]+|[0-9a-fA-F:]+")) {
            throw ConfigException.invalid("host.ip", ip, "an IP address, or empty to detect one");
        }
    }
}
