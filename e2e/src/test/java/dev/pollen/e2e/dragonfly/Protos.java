package dev.pollen.e2e.dragonfly;

import com.google.protobuf.Timestamp;
import java.time.Duration;
import java.time.Instant;

/** prost-wkt / Go {@code timestamppb}/{@code durationpb} conversions the Dragonfly-style fixtures share. */
final class Protos {
    private Protos() {
    }

    static Timestamp timestamp(Instant t) {
        return Timestamp.newBuilder().setSeconds(t.getEpochSecond()).setNanos(t.getNano()).build();
    }

    static com.google.protobuf.Duration duration(Duration d) {
        return com.google.protobuf.Duration.newBuilder().setSeconds(d.getSeconds()).setNanos(d.getNano()).build();
    }
}
