package dev.pollen.agent.mirror;

import java.util.HashSet;
import java.util.Locale;
import java.util.Set;

/**
 * The hop-by-hop header fields of RFC 9110 §7.6.1: they describe one connection, so a proxy never forwards them
 * (in either direction), nor any field the {@code Connection} header names.
 */
final class HopByHop {
    private static final Set<String> ALWAYS = Set.of("connection", "keep-alive", "proxy-connection", "proxy-authenticate",
            "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade");

    private final Set<String> named;

    private HopByHop(Set<String> named) {
        this.named = named;
    }

    /** @param connectionValues every value of the message's {@code Connection} header */
    static HopByHop of(Iterable<String> connectionValues) {
        Set<String> named = new HashSet<>();
        for (String value : connectionValues) {
            for (String token : value.split(",")) {
                if (!token.isBlank()) {
                    named.add(token.trim().toLowerCase(Locale.ROOT));
                }
            }
        }
        return new HopByHop(named);
    }

    boolean isHopByHop(String name) {
        String lower = name.toLowerCase(Locale.ROOT);
        return ALWAYS.contains(lower) || named.contains(lower);
    }
}
