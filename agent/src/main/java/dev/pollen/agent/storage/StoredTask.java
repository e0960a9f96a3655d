package dev.pollen.agent.storage;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.zip.CRC32;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One task on disk: its content file (pieces written at their offsets), its metadata and its piece
 * journal. A piece becomes visible through {@link #piece(int)} only after its bytes are written and
 * its record appended.
 */
public final class StoredTask implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(StoredTask.class);
    private static final int FEED_BUFFER = 256 * 1024;
    static final String CONTENT = "content";
    static final String METADATA = "metadata";
    static final String JOURNAL = "pieces";

    private final Path dir;
    private final ObjectMapper json;
    private final FileChannel content;
    private final PieceJournal journal;
    private final Map<Integer, PieceRecord> pieces = new ConcurrentHashMap<>();
    /** Serialises metadata writes, finishing and closing; held across fsyncs, so a lock rather than a monitor. */
    private final ReentrantLock durability = new ReentrantLock();
    private volatile TaskMetadata metadata;

    private StoredTask(Path dir, ObjectMapper json, TaskMetadata metadata, Collection<PieceRecord> valid) throws IOException {
        this.dir = dir;
        this.json = json;
        this.metadata = metadata;
        this.content = FileChannel.open(dir.resolve(CONTENT), StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
        this.journal = new PieceJournal(dir.resolve(JOURNAL));
        valid.forEach(p -> pieces.put(p.number(), p));
    }

    /**
     * Creates the task's directory and files and syncs the directories that name them (the task's own and
     * {@code tasks/}), so a task later marked finished cannot lose its directory or content file to a power
     * loss.
     */
    static StoredTask create(Path dir, ObjectMapper json, TaskMetadata metadata) throws IOException {
        Files.createDirectories(dir);
        Files.deleteIfExists(dir.resolve(JOURNAL));
        Files.deleteIfExists(dir.resolve(CONTENT));
        writeMetadata(dir, json, metadata);
        StoredTask task = new StoredTask(dir, json, metadata, List.of());
        try {
            if (metadata.lengthKnown()) {
                task.content.truncate(0);
                try (var raf = new java.io.RandomAccessFile(dir.resolve(CONTENT).toFile(), "rw")) {
                    raf.setLength(metadata.contentLength());
                }
            }
            DurableFiles.syncDirectory(dir);
            DurableFiles.syncDirectory(dir.getParent());
        } catch (IOException e) {
            task.close();
            throw e;
        }
        return task;
    }

    /**
     * Opens a stored task, or returns null when its metadata is missing or damaged. For an unfinished
     * task every journaled piece is re-read and its CRC checked, so a resume trusts only bytes that
     * are really there.
     */
    static StoredTask open(Path dir, ObjectMapper json) throws IOException {
        TaskMetadata metadata = readMetadata(dir, json);
        if (metadata == null) {
            return null;
        }
        List<PieceRecord> records = PieceJournal.read(dir.resolve(JOURNAL));
        StoredTask task = new StoredTask(dir, json, metadata, List.of());
        boolean trusted = metadata.finished() && task.contentModifiedMillis() == metadata.contentModifiedMillis();
        for (PieceRecord r : records) {
            if (trusted || task.contentMatches(r)) {
                task.pieces.put(r.number(), r);
            }
        }
        if (metadata.finished() && !trusted) {
            log.warn("event=stored_content_modified task={} action=recheck pieces_kept={} of={}", metadata.taskId(),
                    task.pieces.size(), records.size());
            if (task.pieces.size() != metadata.pieceCount()) {
                task.updateMetadata(metadata.asUnfinished());
            } else {
                task.finish();
            }
        }
        if (task.metadata().finished() && task.metadata().lengthKnown() && task.storedBytes() != task.metadata().contentLength()) {
            task.close();
            return null;
        }
        return task;
    }

    /** See {@link Storage#snapshot}. */
    static TaskSnapshot snapshot(Path dir, ObjectMapper json) throws IOException {
        TaskMetadata metadata = readMetadata(dir, json);
        if (metadata == null) {
            return null;
        }
        List<PieceRecord> records = PieceJournal.read(dir.resolve(JOURNAL)).stream()
                .filter(r -> metadata.pieceCount() < 0 || r.number() < metadata.pieceCount())
                .sorted(Comparator.comparingInt(PieceRecord::number)).toList();
        try {
            return new TaskSnapshot(metadata, records, Files.getLastModifiedTime(dir.resolve(METADATA)).toInstant());
        } catch (java.nio.file.NoSuchFileException e) {
            return null;
        }
    }

    /** This open task as it stands now. */
    public TaskSnapshot snapshot() throws IOException {
        return new TaskSnapshot(metadata, pieces(), lastAccess());
    }

    /** The metadata, or null when it is missing, torn or does not describe a valid task. */
    private static TaskMetadata readMetadata(Path dir, ObjectMapper json) throws IOException {
        byte[] body;
        try {
            body = DurableFiles.read(dir.resolve(METADATA));
        } catch (java.nio.file.NoSuchFileException e) {
            return null;
        }
        if (body == null) {
            return null;
        }
        try {
            return json.readValue(body, TaskMetadata.class);
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            return null;
        }
    }

    public TaskMetadata metadata() {
        return metadata;
    }

    public String taskId() {
        return metadata.taskId();
    }

    /** For writing piece bytes at their offsets; positional writes are safe from several threads. */
    public FileChannel content() {
        return content;
    }

    public Path contentPath() {
        return dir.resolve(CONTENT);
    }

    public PieceRecord piece(int number) {
        return pieces.get(number);
    }

    public List<PieceRecord> pieces() {
        return pieces.values().stream().sorted(Comparator.comparingInt(PieceRecord::number)).toList();
    }

    public long storedBytes() {
        return pieces.values().stream().mapToLong(PieceRecord::length).sum();
    }

    /** Records a piece whose bytes are already written to the content file. */
    public void recordPiece(PieceRecord piece) throws IOException {
        journal.append(piece);
        pieces.put(piece.number(), piece);
    }

    /** Updates what the origin told about the task (length learned at the end of a chunked stream). */
    public void updateMetadata(TaskMetadata updated) throws IOException {
        durability.lock();
        try {
            writeMetadata(dir, json, updated);
            metadata = updated;
        } finally {
            durability.unlock();
        }
    }

    /** Syncs content and journal, then marks the task finished: from here on it is served without re-checks. */
    public void finish() throws IOException {
        finish(contentModifiedMillis());
    }

    /**
     * As {@link #finish()}, with the content's modification time taken when its last piece was written:
     * a write through a hard link to the content after that (it may be handed out before the sync is
     * done) then shows as a different time, and the pieces are checked again when the task is next opened.
     */
    public void finish(long contentModifiedMillis) throws IOException {
        durability.lock();
        try {
            // The content and journal first: metadata that says "finished" must never name bytes a power loss can take.
            DurableFiles.force(content, contentPath());
            journal.sync();
            TaskMetadata done = metadata.asFinished(contentModifiedMillis);
            writeMetadata(dir, json, done);
            metadata = done;
        } finally {
            durability.unlock();
        }
    }

    /** The content file's modification time, in milliseconds. */
    public long contentModifiedMillis() throws IOException {
        return Files.getLastModifiedTime(dir.resolve(CONTENT)).toMillis();
    }

    public void touch(Instant now) throws IOException {
        Files.setLastModifiedTime(dir.resolve(METADATA), FileTime.from(now));
    }

    /** When a request last used the task (the metadata file's mtime, touched on every use). */
    public Instant lastAccess() throws IOException {
        return Files.getLastModifiedTime(dir.resolve(METADATA)).toInstant();
    }

    private boolean contentMatches(PieceRecord r) throws IOException {
        if (r.offset() + r.length() > content.size()) {
            return false;
        }
        CRC32 crc = new CRC32();
        return feed(r.offset(), r.length(), crc::update) == r.length() && crc.getValue() == r.crc32();
    }

    /**
     * Passes {@code length} content bytes from {@code offset} to {@code sink} in order, through a heap buffer: a
     * direct one per call (once per piece checked or hashed) filled the daemon's 64 MiB of direct memory every few
     * dozen pieces, and each time the JDK stopped the daemon for a full GC to free them.
     *
     * @return the bytes passed: fewer than {@code length} when the content ends first
     */
    public long feed(long offset, long length, Consumer<ByteBuffer> sink) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate((int) Math.min(FEED_BUFFER, Math.max(1, length)));
        long pos = offset;
        long end = offset + length;
        while (pos < end) {
            buf.clear().limit((int) Math.min(buf.capacity(), end - pos));
            int n = content.read(buf, pos);
            if (n < 0) {
                break;
            }
            buf.flip();
            sink.accept(buf);
            pos += n;
        }
        return pos - offset;
    }

    private static void writeMetadata(Path dir, ObjectMapper json, TaskMetadata metadata) throws IOException {
        DurableFiles.write(dir.resolve(METADATA), json.writeValueAsBytes(metadata));
    }

    /** Waits for a {@link #finish} under way, so a task being made durable is never cut off halfway. */
    @Override
    public void close() throws IOException {
        durability.lock();
        try (journal) {
            content.close();
        } finally {
            durability.unlock();
        }
    }
}
