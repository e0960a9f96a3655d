package dev.pollen.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A bridge with one network namespace per node, each node with its own address on a private /24: several
 * "machines" on this one, so that every agent has its own IP and its own ports 4000/4005. Needs root.
 *
 * <p>Every name carries the test JVM's pid and a sequence number ({@code pe<pid>-<n>...}), so two runs on one
 * machine never collide. {@link #close()} tears down in reverse order (root-side veth, namespace, then the
 * bridge), whatever failed before; a shutdown hook does the same if the JVM ends first, and namespaces left by
 * a test JVM that died (its pid no longer runs) are removed when the next network is created.
 *
 * <pre>{@code
 * try (Netns net = Netns.create()) {
 *     Netns.Node a = net.add("a");            // 10.x.y.2
 *     a.limitUpload("800mbit");               // tbf on its eth0
 *     new ProcessBuilder(a.exec(List.of("nginx", ...)));
 * }
 * }</pre>
 */
public final class Netns implements AutoCloseable {
    private static final String PREFIX = "pe";
    private static final Pattern OURS = Pattern.compile("^" + PREFIX + "(\\d+)-\\d+-\\S+");
    private static final AtomicInteger SEQUENCE = new AtomicInteger();
    private static final Set<Netns> OPEN = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> OPEN.forEach(Netns::close), "e2e-netns-reaper"));
    }

    /** One node: a namespace, its {@code eth0} (the peer of a veth on the bridge) and its address. */
    public record Node(String role, String namespace, String veth, String ip) {
        /** {@code command} as run inside this namespace: {@code ip netns exec NS command...}, which execs it (same PID). */
        public List<String> exec(List<String> command) {
            List<String> all = new ArrayList<>(launcher());
            all.addAll(command);
            return all;
        }

        /** The prefix that runs a command inside this namespace. */
        public List<String> launcher() {
            return List.of(ipBinary(), "netns", "exec", namespace);
        }

        /** Caps what this node sends (its upload) with a token bucket on its {@code eth0}, e.g. {@code "800mbit"}. */
        public void limitUpload(String rate) {
            run("ip", "netns", "exec", namespace, "tc", "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", rate,
                    "burst", "256kb", "latency", "50ms");
        }
    }

    private final String tag;
    private final String bridge;
    private final String subnet;
    private final List<Node> nodes = new ArrayList<>();
    private boolean closed;

    private Netns(String tag, String bridge, String subnet) {
        this.tag = tag;
        this.bridge = bridge;
        this.subnet = subnet;
    }

    /** A new bridge (up, no address in the root namespace) on a /24 derived from the pid. */
    public static Netns create() {
        removeLeftovers();
        long pid = ProcessHandle.current().pid();
        String tag = PREFIX + pid + "-" + SEQUENCE.incrementAndGet();
        // Only the namespaces have addresses, so the subnet cannot clash with the machine's own networks;
        // deriving it from the pid keeps the logs of concurrent runs apart.
        String subnet = "10." + (100 + (pid >> 8) % 150) + "." + (pid & 0xff);
        Netns net = new Netns(tag, tag + "b", subnet);
        if (net.bridge.length() > 15) {
            throw new IllegalStateException("interface name too long: " + net.bridge);
        }
        OPEN.add(net);
        try {
            run("ip", "link", "add", net.bridge, "type", "bridge");
            run("ip", "link", "set", net.bridge, "up");
        } catch (RuntimeException e) {
            net.close();
            throw e;
        }
        return net;
    }

    /** A new namespace {@code <tag>-<role>} on the bridge, with the next address ({@code .2}, {@code .3}, ...). */
    public synchronized Node add(String role) {
        if (closed) {
            throw new IllegalStateException("network " + tag + " is closed");
        }
        int host = nodes.size() + 2;
        if (host > 254) {
            throw new IllegalStateException("a /24 has no room for another node");
        }
        Node node = new Node(role, tag + "-" + role, tag + "v" + host, subnet + "." + host);
        if (node.veth().length() > 15) {
            throw new IllegalStateException("interface name too long: " + node.veth());
        }
        nodes.add(node);
        run("ip", "netns", "add", node.namespace());
        run("ip", "link", "add", node.veth(), "type", "veth", "peer", "name", "eth0", "netns", node.namespace());
        run("ip", "link", "set", node.veth(), "master", bridge, "up");
        run("ip", "-n", node.namespace(), "addr", "add", node.ip() + "/24", "dev", "eth0");
        run("ip", "-n", node.namespace(), "link", "set", "eth0", "up");
        run("ip", "-n", node.namespace(), "link", "set", "lo", "up");
        return node;
    }

    public synchronized List<Node> nodes() {
        return List.copyOf(nodes);
    }

    String tag() {
        return tag;
    }

    /**
     * Root-side veths, then namespaces, in reverse order of creation, then the bridge. Goes on past failures
     * and reports them at the end; calling it twice is harmless. Stop the processes inside first.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        List<String> problems = new ArrayList<>();
        for (Node node : nodes.reversed()) {
            quietly(problems, "ip", "link", "del", node.veth());
            quietly(problems, "ip", "netns", "del", node.namespace());
        }
        quietly(problems, "ip", "link", "del", bridge);
        OPEN.remove(this);
        if (!problems.isEmpty()) {
            throw new IllegalStateException("tearing down " + tag + ": " + String.join("; ", problems));
        }
    }

    private static void quietly(List<String> problems, String... command) {
        try {
            run(command);
        } catch (RuntimeException e) {
            problems.add(e.getMessage());
        }
    }

    /** Namespaces and bridges of ours whose test JVM no longer runs (it was killed before it could clean up). */
    private static void removeLeftovers() {
        Set<String> deadBridges = new java.util.TreeSet<>();
        for (String line : output("ip", "netns", "list").lines().toList()) {
            String name = line.split(" ")[0];
            Matcher m = OURS.matcher(name);
            if (m.matches() && ProcessHandle.of(Long.parseLong(m.group(1))).isEmpty()) {
                try {
                    run("ip", "netns", "del", name);
                } catch (RuntimeException e) {
                    System.err.println("[e2e] cannot remove leftover namespace " + name + ": " + e.getMessage());
                }
            }
        }
        for (String line : output("ip", "-o", "link", "show", "type", "bridge").lines().toList()) {
            Matcher m = Pattern.compile("^\\d+: (" + PREFIX + "(\\d+)-\\d+b)[:@]").matcher(line);
            if (m.find() && ProcessHandle.of(Long.parseLong(m.group(2))).isEmpty()) {
                deadBridges.add(m.group(1));
            }
        }
        for (String deadBridge : deadBridges) {
            try {
                run("ip", "link", "del", deadBridge);
            } catch (RuntimeException e) {
                System.err.println("[e2e] cannot remove leftover bridge " + deadBridge + ": " + e.getMessage());
            }
        }
    }

    /** Debian installs iproute2 in /usr/sbin, which is not on every PATH. */
    private static String ipBinary() {
        return Files.isExecutable(Path.of("/usr/sbin/ip")) ? "/usr/sbin/ip" : "ip";
    }

    private static void run(String... command) {
        output(command);
    }

    /** Runs a short command and returns its stdout; fails with its stderr if it exits non-zero. */
    private static String output(String... command) {
        List<String> cmd = new ArrayList<>(List.of(command));
        if (cmd.getFirst().equals("ip")) {
            cmd.set(0, ipBinary());
        }
        try {
            Path err = Files.createTempFile("pollen-e2e-ip-", ".err");
            try {
                Process p = new ProcessBuilder(cmd)
                        .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                        .redirectError(err.toFile())
                        .start();
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                if (!p.waitFor(30, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    throw new IllegalStateException(String.join(" ", command) + " did not finish within 30 s");
                }
                if (p.exitValue() != 0) {
                    throw new IllegalStateException(String.join(" ", command) + " -> exit " + p.exitValue() + ": "
                            + Files.readString(err).strip());
                }
                return out;
            } finally {
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + cmd, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running " + cmd, e);
        }
    }
}
