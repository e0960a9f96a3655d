package dev.pollen.agent.upload;

import dev.pollen.agent.config.Cidr;
import dev.pollen.agent.origin.HostResolver;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The callers that may ask this node to download: every address the scheduler names resolve to (a
 * headless Service's name counts as each of its pods) plus the configured extra blocks. Names are
 * re-resolved by {@link #refresh} on the scheduler client's beat; a name that fails to resolve keeps
 * its last addresses, so a DNS hiccup does not lock the schedulers out.
 */
public final class SchedulerAllowList {
    private static final Logger log = LoggerFactory.getLogger(SchedulerAllowList.class);

    private final List<String> names;
    private final List<Cidr> extra;
    private final HostResolver resolver;
    /** Replaced whole by each refresh (one thread), read by every call. */
    private volatile Map<String, List<InetAddress>> resolved = Map.of();

    /**
     * @param schedulers {@code host:port} entries as in {@code scheduler.addresses}
     * @param extra {@code upload.downloadTask.allowedClients}
     */
    public SchedulerAllowList(List<String> schedulers, List<Cidr> extra, HostResolver resolver) {
        this.names = schedulers.stream().map(SchedulerAllowList::hostOf).distinct().toList();
        this.extra = List.copyOf(extra);
        this.resolver = resolver;
        refresh();
    }

    /** Resolves the scheduler names again. */
    public void refresh() {
        Map<String, List<InetAddress>> next = new LinkedHashMap<>();
        for (String name : names) {
            try {
                next.put(name, List.of(resolver.resolve(name)));
            } catch (UnknownHostException e) {
                List<InetAddress> last = resolved.getOrDefault(name, List.of());
                log.warn("event=scheduler_unresolved name={} kept={} cause=\"{}\"", name, last.size(), e.getMessage());
                next.put(name, last);
            }
        }
        resolved = Map.copyOf(next);
    }

    public boolean allows(InetAddress caller) {
        return resolved.values().stream().anyMatch(list -> list.contains(caller))
                || extra.stream().anyMatch(block -> block.contains(caller));
    }

    /** What is allowed now, for a refusal's message: {@code scheduler.pollen=10.0.0.5,10.0.0.6; 10.1.0.0/16}. */
    public String describe() {
        String schedulers = resolved.entrySet().stream()
                .map(e -> e.getKey() + "=" + (e.getValue().isEmpty() ? "(unresolved)"
                        : e.getValue().stream().map(InetAddress::getHostAddress).collect(Collectors.joining(","))))
                .collect(Collectors.joining(" "));
        return "scheduler.addresses [" + schedulers + "], upload.downloadTask.allowedClients " + extra;
    }

    private static String hostOf(String address) {
        int colon = address.lastIndexOf(':');
        return colon < 0 ? address : address.substring(0, colon);
    }
}
