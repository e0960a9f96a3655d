package dev.pollen.agent;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Who this node is to peers and schedulers: Dragonfly's host id form, {@code <ip>-<hostname>}. */
public record HostIdentity(String ip, String hostname) {

    public static HostIdentity local() {
        String hostname = System.getenv("HOSTNAME");
        if (hostname == null || hostname.isBlank()) {
            try {
                hostname = Files.readString(Path.of("/etc/hostname")).trim();
            } catch (IOException e) {
                hostname = "localhost";
            }
        }
        return new HostIdentity("127.0.0.1", hostname);
    }

    public String hostId() {
        return ip + "-" + hostname;
    }
}
