package dev.pollen.agent.storage;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.config.ByteSize;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The task store under {@code storage.dir}: one directory per task id. */
public final class Storage {
    private static final Logger log = LoggerFactory.getLogger(Storage.class);
    private static final Pattern TASK_ID = Pattern.compile("[0-9a-f]{64}");

    private final Path tasksDir;
    private final ObjectMapper json = new ObjectMapper()
            .registerModule(new JavaTimeModule())
            .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS);

    public Storage(Path dir) throws IOException {
        this.tasksDir = dir.resolve("tasks");
        Files.createDirectories(tasksDir);
        DurableFiles.syncDirectory(dir); // tasks/ itself: each task syncs only its own entry in it
    }

    /** Task ids name directories, so only the 64-hex form is ever accepted: no request can name a path. */
    public static boolean isTaskId(String id) {
        return id != null && TASK_ID.matcher(id).matches();
    }

    public Path dir() {
        return tasksDir;
    }

    /** The stored task, or null when it is absent or its metadata is damaged (then it is removed). */
    public StoredTask open(String taskId) throws IOException {
        Path dir = taskDir(taskId);
        if (!Files.isDirectory(dir)) {
            return null;
        }
        StoredTask task = StoredTask.open(dir, json);
        if (task == null) {
            log.warn("event=task_discarded task={} reason=damaged_metadata", taskId);
            delete(taskId);
        }
        return task;
    }

    /**
     * The stored task as its files say, without opening it: never re-checks, rewrites or deletes anything,
     * so it is safe beside a download that is creating or resuming the task. Null when the task is absent
     * or has no readable metadata (yet: a download writes it just after creating the directory).
     */
    public TaskSnapshot snapshot(String taskId) throws IOException {
        Path dir = taskDir(taskId);
        if (!Files.isDirectory(dir)) {
            return null;
        }
        return StoredTask.snapshot(dir, json);
    }

    public boolean exists(String taskId) {
        return isTaskId(taskId) && Files.isDirectory(tasksDir.resolve(taskId));
    }

    public StoredTask create(TaskMetadata metadata) throws IOException {
        long free = Files.getFileStore(tasksDir).getUsableSpace();
        if (metadata.lengthKnown() && metadata.contentLength() > free) {
            throw new PollenException(ErrorCode.NO_SPACE, "not enough disk space for " + metadata.url() + ": needs "
                    + ByteSize.human(metadata.contentLength()) + ", has " + ByteSize.human(free) + " free under " + tasksDir
                    + " (fix: free space or point storage.dir at a larger disk)");
        }
        return StoredTask.create(taskDir(metadata.taskId()), json, metadata);
    }

    public void delete(String taskId) throws IOException {
        Path dir = taskDir(taskId);
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    public List<String> taskIds() throws IOException {
        List<String> ids = new ArrayList<>();
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(tasksDir)) {
            for (Path d : dirs) {
                String name = d.getFileName().toString();
                if (isTaskId(name)) {
                    ids.add(name);
                }
            }
        }
        return ids;
    }

    /** Bytes every stored task occupies on disk (pollen_storage_used_bytes). */
    public long usedBytes() throws IOException {
        long total = 0;
        for (String id : taskIds()) {
            total += diskUsage(id);
        }
        return total;
    }

    /** Bytes a task occupies on disk (allocated blocks would differ only for sparse, unfinished content). */
    public long diskUsage(String taskId) throws IOException {
        Path dir = taskDir(taskId);
        long total = 0;
        try (Stream<Path> files = Files.list(dir)) {
            for (Path p : files.toList()) {
                total += Files.size(p);
            }
        } catch (java.nio.file.NoSuchFileException e) {
            return 0;
        }
        return total;
    }

    private Path taskDir(String taskId) {
        if (!isTaskId(taskId)) {
            throw new PollenException(ErrorCode.INVALID_ARGUMENT, "invalid task id " + taskId + " (expected: 64 hex digits)");
        }
        return tasksDir.resolve(taskId);
    }
}
