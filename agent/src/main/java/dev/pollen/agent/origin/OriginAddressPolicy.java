package dev.pollen.agent.origin;

import dev.pollen.agent.config.Cidr;
import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.util.Arrays;
import java.util.List;

/**
 * The origins this node refuses to fetch for another host: any URL whose host is, or resolves to, an
 * address in a denied block (by default link-local and the cloud metadata services, so a request from
 * the network cannot read this node's credentials). Every address a name resolves to is checked, so a
 * name that merely points at a denied address is denied too. Call it before each request to a new
 * host, redirects included.
 */
public final class OriginAddressPolicy {
    /** The config key that holds the denied blocks, named in every refusal. */
    public static final String KEY = "upload.downloadTask.deniedOrigins";

    /** IPv4 addresses embedded in IPv6 ones that reach them: NAT64's well-known prefix and the old IPv4-compatible form. */
    private static final List<Cidr> EMBEDDING_IPV4 = List.of(Cidr.parse("64:ff9b::/96"), Cidr.parse("::/96"));

    private final List<Cidr> denied;
    private final HostResolver resolver;

    public OriginAddressPolicy(List<Cidr> denied) {
        this(denied, HostResolver.SYSTEM);
    }

    /** @param resolver how host names are resolved; it must resolve the way the origin client will connect */
    public OriginAddressPolicy(List<Cidr> denied, HostResolver resolver) {
        this.denied = List.copyOf(denied);
        this.resolver = resolver;
    }

    /**
     * Returns when every address of the URI's host is allowed.
     *
     * @throws PollenException {@link ErrorCode#ORIGIN_DENIED} naming the address, its block and the key to change;
     *     {@link ErrorCode#ORIGIN_UNREACHABLE} when the host does not resolve; {@link ErrorCode#INVALID_ARGUMENT}
     *     when the URI has no host
     */
    public void check(URI uri) {
        String host = uri.getHost();
        if (host == null || host.isEmpty()) {
            throw new PollenException(ErrorCode.INVALID_ARGUMENT, "url " + uri + " has no host");
        }
        if (denied.isEmpty()) {
            return;
        }
        InetAddress[] addresses;
        try {
            addresses = resolver.resolve(host);
        } catch (UnknownHostException e) {
            throw new PollenException(ErrorCode.ORIGIN_UNREACHABLE, "cannot resolve origin host " + host + " of " + uri
                    + " (fix: check the url or the node's DNS)", e);
        }
        for (InetAddress address : addresses) {
            for (Cidr block : denied) {
                if (block.contains(address) || block.contains(embeddedIpv4(address))) {
                    // A literal host (1.2.3.4, [::1], 2852039166) ends in a digit or is bracketed; a name does not.
                    boolean literal = host.startsWith("[") || Character.isDigit(host.charAt(host.length() - 1));
                    throw new PollenException(ErrorCode.ORIGIN_DENIED, "origin " + uri + " is refused: "
                            + (literal ? host + " is" : host + " resolves to " + address.getHostAddress() + ",")
                            + " in denied block " + block + ", which this node never fetches for another host"
                            + " (fix: remove the block from " + KEY + " if it must be reachable)");
                }
            }
        }
    }

    /** The IPv4 address an IPv6 one stands for, else the address itself. */
    private static InetAddress embeddedIpv4(InetAddress address) {
        if (address instanceof Inet6Address && EMBEDDING_IPV4.stream().anyMatch(b -> b.contains(address))) {
            byte[] bytes = address.getAddress();
            try {
                return Inet4Address.getByAddress(Arrays.copyOfRange(bytes, 12, 16));
            } catch (UnknownHostException e) {
                throw new IllegalStateException("four bytes are always an IPv4 address", e);
            }
        }
        return address;
    }
}
