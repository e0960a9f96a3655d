package dev.pollen.scheduler.client;

import dev.pollen.proto.common.v2.Peer;
import java.util.List;

/** What the scheduler told a peer to do. */
public sealed interface Decision {
    /** Fetch from these parents (each carries its host: ip, gRPC port, piece port). */
    record Parents(List<Peer> parents) implements Decision {
    }

    /** Download from the origin. */
    record BackToSource(String reason) implements Decision {
    }

    /** The task is empty. */
    record Empty() implements Decision {
    }
}
