package dev.pollen.e2e;

import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Pollen agents beside Dragonfly-style peers and schedulers on one machine: each agent on an address of its own in
 * 127.0.0.0/8 (Linux routes all of it to the loopback), so that its host id {@code "{ip}-{hostname}"} differs from
 * the others' and a Dragonfly scheduler, which never offers a parent on the child's own host, pairs them.
 */
final class MixedCluster {
    private static final Pattern DOWNLOAD_STARTED = Pattern.compile("event=download_started task=(\\w+) peer=(\\S+) .*url=(\\S+)");
    private static final Pattern PORTS = Pattern.compile("ports=upload:(\\d+),piece:(\\d+)");

    private MixedCluster() {
    }

    /** An agent on {@code ip} with free upload and Vortex ports, talking to the scheduler at {@code scheduler}. */
    static DaemonProcess startAgent(Daemons daemons, String ip, String scheduler, String... flags) {
        return daemons.start(daemons.newSpec()
                .withFlags("--scheduler.addresses=" + scheduler, "--host.ip=" + ip, "--upload.server.ip=" + ip,
                        "--upload.server.port=0", "--storage.server.tcpPort=0")
                .withFlags(flags));
    }

    /** The task id the daemon logged for its download of {@code url}. */
    static String taskOf(DaemonProcess daemon, String url) {
        for (String line : daemon.logLines("event=download_started")) {
            Matcher m = DOWNLOAD_STARTED.matcher(line);
            if (m.find() && m.group(3).equals(url)) {
                return m.group(1);
            }
        }
        throw new AssertionError("no download of " + url + " logged:\n" + daemon);
    }

    /** The daemon's upload gRPC port, from its ready line. */
    static int uploadPort(DaemonProcess daemon) {
        return ports(daemon).get(0);
    }

    private static List<Integer> ports(DaemonProcess daemon) {
        Matcher m = PORTS.matcher(daemon.logLines("event=ready").getFirst());
        if (!m.find()) {
            throw new AssertionError("no ports in the ready line:\n" + daemon);
        }
        return List.of(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)));
    }

    /** The lines {@code event=back_to_source} of the daemon for {@code task}. */
    static List<String> backToSource(DaemonProcess daemon, String task) {
        return daemon.logLines("event=back_to_source").stream().filter(l -> l.contains("task=" + task)).toList();
    }
}
