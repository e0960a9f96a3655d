package dev.pollen.agent.storage;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Image manifests by digest under {@code storage.dir/manifests}, one file each (its media type, then its bytes).
 * A manifest by digest never changes, so a copy is as good as the registry's answer: it is stored only if its bytes
 * hash to its name, checked again on every read (a damaged file is removed, never served), and its modification
 * time is its last use, which {@link #collect} evicts by.
 */
public final class ManifestStore {
    private static final Logger log = LoggerFactory.getLogger(ManifestStore.class);
    private static final Pattern HEX = Pattern.compile("[0-9a-f]{64}");
    /** The OCI distribution spec has registries accept manifests of at least 4 MiB; none larger is kept. */
    public static final int MAX_BYTES = 4 * 1024 * 1024;

    /** A stored manifest: its {@code Content-Type} and its bytes. */
    public record Manifest(String mediaType, byte[] body) {
    }

    private final Path dir;
    private final Clock clock;

    public ManifestStore(Path storageDir, Clock clock) throws IOException {
        this.dir = storageDir.resolve("manifests");
        this.clock = clock;
        Files.createDirectories(dir);
    }

    /**
     * Keeps {@code body} as the manifest of {@code sha256Hex} if it hashes to it and is not too large.
     *
     * @return whether it was kept (false for bytes that do not match: the registry's answer is then only passed on)
     */
    public boolean put(String sha256Hex, String mediaType, byte[] body) throws IOException {
        if (!HEX.matcher(sha256Hex).matches() || body.length > MAX_BYTES || !sha256Hex.equals(sha256(body))) {
            return false;
        }
        String type = mediaType == null ? "" : mediaType.replaceAll("[\\r\\n]", "");
        byte[] head = (type + "\n").getBytes(StandardCharsets.UTF_8);
        byte[] file = Arrays.copyOf(head, head.length + body.length);
        System.arraycopy(body, 0, file, head.length, body.length);
        DurableFiles.write(dir.resolve(sha256Hex), file);
        return true;
    }

    /** The manifest of {@code sha256Hex} if stored and intact (its use recorded), else null. */
    public Manifest get(String sha256Hex) throws IOException {
        if (!HEX.matcher(sha256Hex).matches()) {
            return null;
        }
        Path file = dir.resolve(sha256Hex);
        if (!Files.exists(file)) {
            return null;
        }
        byte[] all = DurableFiles.read(file);
        int nl = all == null ? -1 : indexOf(all, (byte) '\n');
        byte[] body = nl < 0 ? null : Arrays.copyOfRange(all, nl + 1, all.length);
        if (body == null || !sha256Hex.equals(sha256(body))) {
            log.warn("event=manifest_discarded digest=sha256:{} reason=damaged", sha256Hex);
            Files.deleteIfExists(file);
            return null;
        }
        try {
            Files.setLastModifiedTime(file, FileTime.from(clock.instant()));
        } catch (NoSuchFileException evicted) {
            // collected meanwhile: the bytes read are still the manifest's
        }
        return new Manifest(new String(all, 0, nl, StandardCharsets.UTF_8), body);
    }

    /**
     * Evicts manifests unused since {@code expiry}, then the least recently used while they take more than
     * {@code maxBytes}.
     *
     * @return the number evicted
     */
    public int collect(Instant expiry, long maxBytes) throws IOException {
        record Entry(Path file, Instant used, long bytes) {
        }
        List<Entry> entries = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path f : files) {
                try {
                    entries.add(new Entry(f, Files.getLastModifiedTime(f).toInstant(), Files.size(f)));
                } catch (NoSuchFileException gone) {
                    // a temp file renamed or removed since the listing
                }
            }
        }
        entries.sort(Comparator.comparing(Entry::used));
        long total = entries.stream().mapToLong(Entry::bytes).sum();
        int evicted = 0;
        for (Entry e : entries) {
            boolean expired = e.used().isBefore(expiry);
            if (expired || total > maxBytes) {
                Files.deleteIfExists(e.file());
                total -= e.bytes();
                evicted++;
                log.debug("event=manifest_evicted file={} reason={}", e.file().getFileName(), expired ? "ttl" : "quota");
            }
        }
        return evicted;
    }

    private static int indexOf(byte[] bytes, byte b) {
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == b) {
                return i;
            }
        }
        return -1;
    }

    public static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }
}
