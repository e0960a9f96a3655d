package dev.pollen.agent.setup;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;

/**
 * One registry's hosts.toml with the mirror put in: the mirror's {@code [host]} entry first (containerd
 * tries hosts in the order of their table headers, and {@code server} last), then every host the original
 * named, in its order; the original's {@code server} and its settings for it ({@code ca}, {@code client},
 * {@code skip_verify}, {@code header}, {@code override_path}, anything else) kept as they were. The result
 * depends only on the original and the flags, so running the set-up again writes the same bytes.
 */
final class HostsToml {
    static final String HOST = "host";
    static final String SERVER = "server";

    private HostsToml() {
    }

    /** {@code original}: the user's file as parsed, or an empty table when there was none. */
    static ObjectNode merge(ObjectNode original, Registry registry, Mirror mirror) {
        ObjectNode out = TomlText.newTable();
        if (original.has(SERVER)) {
            out.set(SERVER, original.get(SERVER));
        } else if (registry.server() != null) {
            out.put(SERVER, registry.server());
        }
        for (Map.Entry<String, JsonNode> e : original.properties()) {
            if (!e.getKey().equals(SERVER) && !e.getKey().equals(HOST)) {
                out.set(e.getKey(), e.getValue());
            }
        }
        ObjectNode hosts = out.putObject(HOST);
        ObjectNode mine = hosts.putObject(mirror.url());
        mine.putArray("capabilities").add("pull").add("resolve");
        mine.put("dial_timeout", mirror.dialTimeout());
        JsonNode theirs = original.get(HOST);
        if (theirs != null && !theirs.isObject()) {
            throw new SetupException("the original hosts.toml's \"host\" is not a table (fix: make each host a [host.\"URL\"] table)");
        }
        if (theirs != null) {
            for (Map.Entry<String, JsonNode> e : theirs.properties()) {
                // A host entry for the mirror's own address is replaced by ours, never listed twice.
                if (!stripSlash(e.getKey()).equals(mirror.url())) {
                    hosts.set(e.getKey(), e.getValue());
                }
            }
        }
        return out;
    }

    private static String stripSlash(String url) {
        return url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
    }
}
