package dev.pollen.tls;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Peers refused by TLS, each logged once: a node that keeps reconnecting with a certificate from another CA must not
 * fill the log, and the first line says who and why. At most {@code 1024} peers are remembered.
 */
public final class TlsRefusals {
    private static final Logger log = LoggerFactory.getLogger(TlsRefusals.class);
    private static final int REMEMBERED = 1024;

    private final java.util.concurrent.atomic.AtomicInteger reported = new java.util.concurrent.atomic.AtomicInteger();
    private final Set<String> logged = Collections.newSetFromMap(Collections.synchronizedMap(new LinkedHashMap<>(64, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
            return size() > REMEMBERED;
        }
    }));

    /**
     * @param side {@code server} (a peer that connected to us) or {@code client} (a peer we connected to)
     * @param peer its address, or the subject of the certificate it showed
     * @return whether this was the first refusal of that peer for that reason (and so logged)
     */
    public boolean refused(String side, String peer, String reason) {
        if (!logged.add(side + ' ' + peer + ' ' + reason)) {
            return false;
        }
        reported.incrementAndGet();
        log.warn("event=tls_refused side={} peer=\"{}\" reason=\"{}\" fix=\"give every node a certificate signed by the CA in "
                + "caCert, not expired, and its key\"", side, peer, reason);
        return true;
    }

    /** Refusals reported (logged) so far. */
    public int reported() {
        return reported.get();
    }
}
