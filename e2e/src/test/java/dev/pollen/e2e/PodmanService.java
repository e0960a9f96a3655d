package dev.pollen.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.model.Container;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.function.LongPredicate;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.testcontainers.DockerClientFactory;

/**
 * podman's Docker API for Testcontainers, started by the tests themselves: {@code podman system service} on a socket
 * in a directory of its own, with Pollen's podman configuration and image storage ({@link Podman#command}), so it sees
 * the images bin/test built and loaded. One per test run (the root context's store closes it at the end): Testcontainers
 * keeps its client for the JVM's life. {@link PodmanClientProviderStrategy} points Testcontainers at it; the e2e pom
 * turns off what needs pulled images (Ryuk, the start-up checks), which Testcontainers reads from the environment only.
 *
 * <p>Containers are labelled with this JVM's pid: the next run removes those a killed run left behind.
 */
final class PodmanService implements ExtensionContext.Store.CloseableResource {
    /** The system property {@link PodmanClientProviderStrategy} reads: {@code unix:///…/podman.sock}. */
    static final String SOCKET_PROPERTY = "pollen.podman.socket";
    static final String PID_LABEL = "dev.pollen.e2e.pid";
    private static final Duration START_TIMEOUT = Duration.ofSeconds(30);

    private final Path dir;
    private final Process service;
    private final Set<String> loaded = ConcurrentHashMap.newKeySet();

    private PodmanService(Path dir, Process service) {
        this.dir = dir;
        this.service = service;
    }

    /** The run's service, started on first use. */
    static PodmanService in(ExtensionContext context) {
        return context.getRoot().getStore(ExtensionContext.Namespace.create(PodmanService.class))
                .getOrComputeIfAbsent(PodmanService.class, k -> start(), PodmanService.class);
    }

    private static PodmanService start() {
        try {
            Path dir = Files.createTempDirectory("pollen-podman-");
            Path socket = dir.resolve("podman.sock");
            Process service = ChildProcesses.track(new ProcessBuilder(Podman.command("system", "service", "--time=0",
                    "unix://" + socket)).redirectErrorStream(true).redirectOutput(dir.resolve("service.log").toFile()).start());
            await("podman system service's socket " + socket).atMost(START_TIMEOUT)
                    .until(() -> Files.exists(socket) || !service.isAlive());
            assertThat(service.isAlive()).as(() -> "podman system service: " + log(dir)).isTrue();
            System.setProperty(SOCKET_PROPERTY, "unix://" + socket);
            removeLeftovers();
            return new PodmanService(dir, service);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Containers of earlier runs whose JVM is gone (killed before it could remove them): removing them also unmounts
     * their root filesystems, which a service killed mid-way leaves mounted.
     */
    private static void removeLeftovers() {
        remove(pid -> ProcessHandle.of(pid).isEmpty());
    }

    /** Removes (force) the tests' containers whose run's pid {@code whose} accepts. */
    private static void remove(LongPredicate whose) {
        DockerClient client = DockerClientFactory.instance().client();
        for (Container c : client.listContainersCmd().withShowAll(true).withLabelFilter(List.of(PID_LABEL)).exec()) {
            if (whose.test(Long.parseLong(c.getLabels().get(PID_LABEL)))) {
                client.removeContainerCmd(c.getId()).withForce(true).exec();
            }
        }
    }

    /** The labels that mark a container as this run's. */
    static Map<String, String> labels() {
        return Map.of(PID_LABEL, String.valueOf(ProcessHandle.current().pid()));
    }

    /** Loads an image tar (docker-archive, e.g. Jib's) through the API, once per run. */
    void load(Path tar) {
        if (!loaded.add(tar.toString())) {
            return;
        }
        try (InputStream in = Files.newInputStream(tar)) {
            DockerClientFactory.instance().client().loadImageCmd(in).exec();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Removes what this run left (a test that failed before its clean-up), stops the service, deletes its directory. */
    @Override
    public void close() throws IOException {
        long self = ProcessHandle.current().pid();
        try {
            remove(pid -> pid == self);
        } finally {
            System.clearProperty(SOCKET_PROPERTY);
            ChildProcesses.terminate(service, Duration.ofSeconds(20));
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static String log(Path dir) {
        try {
            return Files.readString(dir.resolve("service.log"));
        } catch (IOException e) {
            return e.toString();
        }
    }
}
