package dev.pollen.agent.origin;

import java.net.InetAddress;
import java.net.UnknownHostException;

/** Host name to every address it resolves to; the system resolver in production, a map in tests. */
@FunctionalInterface
public interface HostResolver {
    HostResolver SYSTEM = InetAddress::getAllByName;

    InetAddress[] resolve(String host) throws UnknownHostException;
}
