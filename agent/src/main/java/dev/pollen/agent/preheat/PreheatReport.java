package dev.pollen.agent.preheat;

import dev.pollen.agent.config.ByteSize;
import dev.pollen.proto.pollen.scheduler.v1.PreheatProgress;
import dev.pollen.proto.pollen.scheduler.v1.PreheatTarget;
import java.io.PrintStream;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.LongSupplier;
import java.util.stream.Collectors;

/**
 * Prints a preheat's progress as it streams in, one line per event (piece progress at most once a second per
 * host and blob), and knows at the end whether every blob reached every target.
 */
final class PreheatReport {
    private static final long PROGRESS_EVERY_NANOS = Duration.ofSeconds(1).toNanos();

    private final PrintStream out;
    private final List<ImageResolver.Blob> blobs;
    private final boolean progress;
    private final LongSupplier nanos;
    private final Map<String, String> names = new LinkedHashMap<>();
    private final Set<String> finished = new HashSet<>();
    private final Map<String, Long> lastProgress = new HashMap<>();
    private final Map<String, Long> lengths = new HashMap<>();
    private int failed;

    PreheatReport(PrintStream out, List<ImageResolver.Blob> blobs, boolean progress, LongSupplier nanos) {
        this.out = out;
        this.blobs = List.copyOf(blobs);
        this.progress = progress;
        this.nanos = nanos;
    }

    void on(PreheatProgress p) {
        switch (p.getEventCase()) {
            case TARGETS_CHOSEN -> {
                var chosen = p.getTargetsChosen();
                StringBuilder line = new StringBuilder("targets (").append(chosen.getTargetsCount()).append(" of ")
                        .append(chosen.getKnownHosts()).append(" hosts):");
                Map<String, Long> sameName = chosen.getTargetsList().stream()
                        .collect(Collectors.groupingBy(PreheatTarget::getHostname, Collectors.counting()));
                for (PreheatTarget t : chosen.getTargetsList()) {
                    // hosts that share a name (several agents on one machine) are told apart by their address
                    boolean unique = !t.getHostname().isEmpty() && sameName.get(t.getHostname()) == 1;
                    names.put(t.getHostId(), unique ? t.getHostname() : t.getHostname() + "@" + t.getIp());
                    line.append(' ').append(names.get(t.getHostId())).append(" (").append(t.getIp()).append(t.getSeed() ? ", seed)" : ")");
                }
                out.println(line);
            }
            case DOWNLOAD_STARTED -> {
                var s = p.getDownloadStarted();
                lengths.put(key(s.getHostId(), s.getDownload()), s.getContentLength());
                out.println(prefix(s.getHostId(), s.getDownload()) + (s.getAlreadyPresent() ? " already there" : " started"));
            }
            case DOWNLOAD_PIECES -> {
                var s = p.getDownloadPieces();
                String key = key(s.getHostId(), s.getDownload());
                long now = nanos.getAsLong();
                Long last = lastProgress.get(key);
                if (progress && (last == null || now - last >= PROGRESS_EVERY_NANOS)) {
                    lastProgress.put(key, now);
                    out.println(prefix(s.getHostId(), s.getDownload()) + " " + ByteSize.human(s.getBytesDone()) + "/"
                            + ByteSize.human(lengths.getOrDefault(key, blob(s.getDownload()).size())));
                }
            }
            case DOWNLOAD_FINISHED -> {
                var s = p.getDownloadFinished();
                finished.add(key(s.getHostId(), s.getDownload()));
                out.println(prefix(s.getHostId(), s.getDownload()) + " done");
            }
            case DOWNLOAD_FAILED -> {
                var s = p.getDownloadFailed();
                failed++;
                out.println(prefix(s.getHostId(), s.getDownload()) + " failed: " + s.getReason());
            }
            default -> {
                // an event a newer scheduler sends: nothing to print
            }
        }
    }

    /** Whether every blob finished on every target that was chosen. */
    boolean complete() {
        return !names.isEmpty() && finished.size() == names.size() * blobs.size() && failed == 0;
    }

    int targets() {
        return names.size();
    }

    String summary(ImageResolver.Resolved image, Duration took) {
        return String.format(Locale.ROOT, "preheated %s: %d blobs (%s) on %d hosts in %.2fs", image.image(), blobs.size(),
                ByteSize.human(image.bytes()), names.size(), took.toMillis() / 1000.0);
    }

    private String prefix(String hostId, int download) {
        return names.getOrDefault(hostId, hostId) + " " + shortDigest(blob(download).digest()) + " ("
                + ByteSize.human(blob(download).size()) + ")";
    }

    private ImageResolver.Blob blob(int download) {
        return download < blobs.size() ? blobs.get(download) : new ImageResolver.Blob("sha256:?", 0, "");
    }

    static String shortDigest(String digest) {
        return digest.length() > 19 ? digest.substring(0, 19) : digest;
    }

    private static String key(String hostId, int download) {
        return hostId + " " + download;
    }
}
