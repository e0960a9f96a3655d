package dev.pollen.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A small cluster on one machine, one network namespace per node ({@link Netns}): nginx as the origin, Pollen's
 * scheduler, a seed peer and N agents, each a real dfdaemon started inside its namespace with its namespace
 * address as its host IP and upload address (so the fixed ports 4000/4005 do not clash), and dfget run inside
 * the same namespace. Built per test, torn down after it in reverse order (agents, scheduler, origin, network),
 * even when the test or a step of the teardown fails; a failed test keeps every directory (the paths are
 * printed).
 *
 * <pre>{@code
 * @RegisterExtension final Swarm swarm = new Swarm();
 *
 * @Test void x() {
 *     swarm.originUploadRate("800mbit").agents(4).start();
 *     swarm.agent(0).dfget().download(swarm.origin().url("/f.bin"), out);
 *     Swarm.Node faulty = swarm.startAgent("faulty", "--some.fault=true");   // one more node, any time
 * }
 * }</pre>
 *
 * Agents' ERROR lines fail the test as with {@link Daemons} (declare the expected ones with
 * {@link DaemonProcess#expectErrors}); so do the scheduler's.
 */
public final class Swarm implements BeforeEachCallback, AfterEachCallback {
    static final int ORIGIN_PORT = 80;
    static final int SCHEDULER_PORT = 8002;
    static final int UPLOAD_PORT = 4000;
    static final int PIECE_PORT = 4005;
    static final String SHUTDOWN_GRACE = "3s";

    private final Daemons daemons = new Daemons();
    private final List<String> originLocations = new ArrayList<>();
    private final List<String> agentFlags = new ArrayList<>();
    private final Map<Integer, List<String>> flagsOfAgent = new LinkedHashMap<>();
    private final List<Path> dirs = new ArrayList<>();
    private final List<Node> agents = new ArrayList<>();
    private final Map<Path, FileTime> jars = new LinkedHashMap<>();
    private String originUploadRate;
    private int agentCount = 4;
    private boolean withSeed = true;

    private Netns net;
    private Netns.Node schedulerNode;
    private Nginx origin;
    private SchedulerProcess scheduler;
    private Node seed;

    /** One dfdaemon in its namespace. */
    public record Node(String name, Netns.Node netns, DaemonProcess daemon) {
        /** The node's address: its host IP, upload and piece server address. */
        public String ip() {
            return netns.ip();
        }

        /** A dfget run inside the node's namespace against its daemon. */
        public Dfget dfget() {
            return daemon.dfget().withLauncher(netns.launcher());
        }

        /** Log lines of the daemon that contain {@code text}. */
        public List<String> logLines(String text) {
            return daemon.logLines(text);
        }

        /** The lines about P2P and the task ids' fate, for failure messages. */
        String digest() {
            List<String> lines = daemon.stdout().lines()
                    .filter(l -> l.contains("event=peer_registered") || l.contains("event=parent_") || l.contains("event=task_")
                            || l.contains("event=scheduler_") || l.contains("event=reschedule") || l.contains("event=back_to_source") || l.contains("event=download_")
                            || l.contains(" level=ERROR ") || l.contains("Exception"))
                    .toList();
            return "--- " + name + " " + ip() + " pid " + daemon.pid() + (daemon.isAlive() ? "" : " (exited)") + " in "
                    + daemon.dir() + "\n"
                    + String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        }
    }

    // ---- configuration, before start() ----

    /** An nginx {@code location} block for the origin ({@link Nginx#rateLimited}, {@link Nginx#status}). */
    public Swarm originLocation(String block) {
        originLocations.add(block);
        return this;
    }

    /** Caps the origin's upload with tbf on its interface (e.g. {@code "800mbit"}), as a real origin's link would. */
    public Swarm originUploadRate(String rate) {
        originUploadRate = rate;
        return this;
    }

    /** How many agents {@link #start()} starts (default 4). */
    public Swarm agents(int count) {
        agentCount = count;
        return this;
    }

    /** No seed peer. */
    public Swarm withoutSeed() {
        withSeed = false;
        return this;
    }

    /** Flags for every dfdaemon of the swarm (seed and agents), e.g. {@code --scheduler.announceInterval=1s}. */
    public Swarm agentFlags(String... flags) {
        agentFlags.addAll(List.of(flags));
        return this;
    }

    /** Extra flags for agent {@code index} only, e.g. a smaller {@code --download.concurrentPieceCount}. */
    public Swarm agentFlags(int index, String... flags) {
        flagsOfAgent.computeIfAbsent(index, i -> new ArrayList<>()).addAll(List.of(flags));
        return this;
    }

    // ---- life cycle ----

    /** Network, origin, scheduler, then the seed and the agents (started in parallel, each waited for). */
    public Swarm start() {
        recordJars();
        net = Netns.create();
        Netns.Node originNode = net.add("origin");
        schedulerNode = net.add("sched");
        if (originUploadRate != null) {
            originNode.limitUpload(originUploadRate);
        }
        origin = new Nginx().listenOn(originNode.ip(), ORIGIN_PORT).launcher(originNode.launcher());
        originLocations.forEach(origin::location);
        origin.start();
        scheduler = SchedulerProcess.start(tempDir("pollen-e2e-scheduler-"), schedulerNode.launcher(),
                "--port=" + SCHEDULER_PORT, "--listen=" + schedulerNode.ip());

        List<DaemonProcess> launched = new ArrayList<>();
        if (withSeed) {
            seed = launchNode("seed", "--seedPeer.enable=true");
            launched.add(seed.daemon());
        }
        for (int i = 0; i < agentCount; i++) {
            Node agent = launchNode("agent" + i, flagsOfAgent.getOrDefault(i, List.of()).toArray(String[]::new));
            agents.add(agent);
            launched.add(agent.daemon());
        }
        launched.forEach(DaemonProcess::awaitReady);
        return this;
    }

    /** One more agent, in a namespace of its own, started now and waited for; {@code flags} are its own extra flags. */
    public Node startAgent(String name, String... flags) {
        return startAgent(name, Map.of(), flags);
    }

    /**
     * One more agent with extra environment variables
     * (e.g. {@code Map.of("POLLEN_JAVA_OPTS", "-Dpollen.log.level=DEBUG")}).
     */
    public Node startAgent(String name, Map<String, String> env, String... flags) {
        Node node = launchNode(name, env, flags);
        node.daemon().awaitReady();
        agents.add(node);
        return node;
    }

    private Node launchNode(String name, String... flags) {
        return launchNode(name, Map.of(), flags);
    }

    private Node launchNode(String name, Map<String, String> env, String... flags) {
        Netns.Node ns = net.add(name);
        // env(1) execs the daemon as ip-netns-exec does, so the PID stays the daemon's own.
        List<String> launcher = new ArrayList<>(ns.launcher());
        if (!env.isEmpty()) {
            launcher.add("/usr/bin/env");
            env.forEach((k, v) -> launcher.add(k + "=" + v));
        }
        DaemonProcess.Spec spec = daemons.newSpec()
                .withLauncher(launcher)
                .withFlags("--scheduler.addresses=" + schedulerAddress(), "--host.ip=" + ns.ip(),
                        "--upload.server.ip=" + ns.ip(), "--upload.server.port=" + UPLOAD_PORT,
                        "--storage.server.tcpPort=" + PIECE_PORT,
                        // A failed test leaves downloads in flight: the teardown should not wait 30 s per agent.
                        "--download.server.shutdownGracePeriod=" + SHUTDOWN_GRACE)
                .withFlags(agentFlags.toArray(String[]::new))
                .withFlags(flags);
        return new Node(name, ns, daemons.launch(spec));
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        daemons.beforeEach(context);
    }

    /** Stops everything by PID in reverse order and removes the network, whatever fails on the way. */
    @Override
    public void afterEach(ExtensionContext context) {
        List<Throwable> problems = new ArrayList<>();
        boolean failed = context.getExecutionException().isPresent();
        if (failed && jarsChanged()) {
            System.err.println("[e2e] the agent or scheduler jar was rebuilt during " + context.getDisplayName()
                    + ": processes started before the rebuild may fail to load classes (rebuild and rerun)");
        }
        try {
            daemons.afterEach(context);
        } catch (Throwable t) {
            problems.add(t);
            failed = true;
        }
        if (scheduler != null) {
            try {
                scheduler.terminate();
                List<String> errors = scheduler.errors();
                if (!errors.isEmpty()) {
                    failed = true;
                    problems.add(new AssertionError("the scheduler in " + scheduler.dir() + " logged errors:\n  "
                            + String.join("\n  ", errors)));
                }
            } catch (Throwable t) {
                problems.add(t);
            }
        }
        if (origin != null) {
            try {
                origin.stop();
            } catch (Throwable t) {
                problems.add(t);
            }
        }
        if (net != null) {
            try {
                net.close();
            } catch (Throwable t) {
                problems.add(t);
            }
        }
        if (failed) {
            dirs.forEach(d -> System.err.println("[e2e] kept " + d + " of " + context.getDisplayName()));
            if (origin != null && origin.dir() != null) {
                System.err.println("[e2e] kept " + origin.dir() + " (origin) of " + context.getDisplayName());
            }
        } else {
            dirs.forEach(Daemons::deleteTree);
            if (origin != null) {
                origin.close();
            }
        }
        if (!problems.isEmpty()) {
            AssertionError error = new AssertionError("swarm teardown: " + problems.getFirst().getMessage(), problems.getFirst());
            problems.stream().skip(1).forEach(error::addSuppressed);
            throw error;
        }
    }

    // ---- access ----

    public Nginx origin() {
        return origin;
    }

    SchedulerProcess scheduler() {
        return scheduler;
    }

    /** The swarm's network, for more nodes of the test's own (a registry, say); null before {@link #start()}. */
    public Netns network() {
        return net;
    }

    /** {@code IP:PORT} of the scheduler, as the agents are configured with it. */
    public String schedulerAddress() {
        return schedulerNode.ip() + ":" + SCHEDULER_PORT;
    }

    public Node seed() {
        if (seed == null) {
            throw new IllegalStateException("this swarm has no seed peer");
        }
        return seed;
    }

    public Node agent(int index) {
        return agents.get(index);
    }

    public List<Node> agents() {
        return List.copyOf(agents);
    }

    /** The P2P lines of every node's log and the scheduler's tail, for a failure message. */
    public String report() {
        StringBuilder b = new StringBuilder();
        if (seed != null) {
            b.append(seed.digest()).append('\n');
        }
        agents.forEach(a -> b.append(a.digest()).append('\n'));
        if (scheduler != null) {
            b.append(scheduler);
        }
        return b.toString();
    }

    private Path tempDir(String prefix) {
        try {
            Path dir = Files.createTempDirectory(prefix);
            dirs.add(dir);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void recordJars() {
        for (String jar : List.of("agent/target/pollen-agent.jar", "scheduler/target/pollen-scheduler.jar")) {
            Path path = Pollen.home().resolve(jar);
            jars.put(path, modified(path));
        }
    }

    private boolean jarsChanged() {
        return jars.entrySet().stream().anyMatch(e -> !e.getValue().equals(modified(e.getKey())));
    }

    private static FileTime modified(Path file) {
        try {
            return Files.getLastModifiedTime(file);
        } catch (IOException e) {
            return FileTime.fromMillis(0);
        }
    }
}
