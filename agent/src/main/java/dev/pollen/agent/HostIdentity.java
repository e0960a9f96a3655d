package dev.pollen.agent;

import dev.pollen.agent.config.HostConfig;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;

/** Who this node is to peers and schedulers: Dragonfly's host id form, {@code <ip>-<hostname>}. */
public record HostIdentity(String ip, String hostname) {

    public static HostIdentity of(HostConfig config) {
        String hostname = System.getenv("HOSTNAME");
        if (hostname == null || hostname.isBlank()) {
            try {
                hostname = Files.readString(Path.of("/etc/hostname")).trim();
            } catch (IOException e) {
                hostname = "localhost";
            }
        }
        return new HostIdentity(config.ip().isEmpty() ? detectIp() : config.ip(), hostname);
    }

    /** The first up, non-loopback IPv4 address; loopback when there is none (a single machine). */
    static String detectIp() {
        try {
            for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                if (!nic.isUp() || nic.isLoopback()) {
                    continue;
                }
                for (InetAddress a : Collections.list(nic.getInetAddresses())) {
                    if (a instanceof Inet4Address && !a.isLinkLocalAddress()) {
                        return a.getHostAddress();
                    }
                }
            }
        } catch (SocketException e) {
            // fall through to loopback
        }
        return "127.0.0.1";
    }

    public String hostId() {
        return ip + "-" + hostname;
    }
}
