package dev.pollen.agent.config;

import java.io.IOException;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;

/**
 * The speed the kernel reports for the network interface that holds this host's address
 * ({@code /sys/class/net/IF/speed}, Mbit/s). Virtual interfaces report none (loopback) or a nominal one
 * (veth: 10000), and a shaper such as {@code tc} is invisible here, so a configured
 * {@code upload.bandwidth} always wins over it.
 */
public final class LinkSpeed {
    private LinkSpeed() {
    }

    /** The link speed of the interface holding {@code ip}, in bits per second; empty when unknown. */
    public static OptionalLong of(String ip) {
        try {
            NetworkInterface nic = NetworkInterface.getByInetAddress(InetAddress.getByName(ip));
            return nic == null ? OptionalLong.empty() : read(Path.of("/sys/class/net"), nic.getName());
        } catch (UnknownHostException | SocketException e) {
            return OptionalLong.empty();
        }
    }

    /** @param sysClassNet {@code /sys/class/net}, or a directory of fake files in tests */
    static OptionalLong read(Path sysClassNet, String interfaceName) {
        try {
            long mbit = Long.parseLong(Files.readString(sysClassNet.resolve(interfaceName).resolve("speed")).trim());
            return mbit > 0 ? OptionalLong.of(mbit * 1_000_000L) : OptionalLong.empty();
        } catch (IOException | NumberFormatException e) {
            // No file, EINVAL (loopback, a link that is down) or -1: the kernel does not know.
            return OptionalLong.empty();
        }
    }
}
