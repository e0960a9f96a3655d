package dev.pollen.scheduler;

import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code scheduler}: Pollen's scheduler. Starts with no configuration. */
@Command(name = "scheduler", mixinStandardHelpOptions = true, version = "Pollen scheduler 0.1.0",
        description = "Tells Pollen (and Dragonfly) peers which parents to download each task's pieces from.")
public final class SchedulerCommand implements Callable<Integer> {
    @Option(names = "--listen", defaultValue = "0.0.0.0", description = "Address to listen on (default: ${DEFAULT-VALUE}).")
    String listen;

    @Option(names = "--port", defaultValue = "8002", description = "gRPC port (default: ${DEFAULT-VALUE}; 0 picks a free one).")
    int port;

    // The paths are Dragonfly's (/metrics on its scheduler, /healthy on its dfdaemon), so scrape configs and probes carry over.
    @Option(names = "--metrics-port", defaultValue = "8000",
            description = "Port of GET /metrics and GET /healthy (default: ${DEFAULT-VALUE}; 0 picks a free one, -1 turns them off).")
    int metricsPort;

    @Option(names = "--metrics-listen", defaultValue = "0.0.0.0", description = "Address of the metrics port (default: ${DEFAULT-VALUE}).")
    String metricsListen;

    @Option(names = "--candidate-parent-limit", defaultValue = "3", description = "Parents offered per decision (default: ${DEFAULT-VALUE}).")
    int candidateParentLimit;

    @Option(names = "--filter-parent-limit", defaultValue = "40", description = "Peers examined per decision (default: ${DEFAULT-VALUE}).")
    int filterParentLimit;

    @Option(names = "--back-to-source-limit", defaultValue = "1",
            description = "Peers of one task downloading from the origin at once; others wait for parents (default: ${DEFAULT-VALUE}).")
    int backToSourceLimit;

    @Option(names = "--default-upload-bandwidth", defaultValue = "1000000000",
            description = "Upload bits/s assumed for a host that announces no max_tx_bandwidth (default: ${DEFAULT-VALUE}).")
    long defaultUploadBitsPerSecond;

    @Option(names = "--stats-interval-seconds", defaultValue = "60",
            description = "Log the decision latency of each interval this long (default: ${DEFAULT-VALUE}).")
    long statsIntervalSeconds;

    @Option(names = "--host-ttl-seconds", defaultValue = "180", description = "Expire hosts silent this long (default: ${DEFAULT-VALUE}).")
    long hostTtlSeconds;

    public static void main(String[] args) {
        System.exit(new CommandLine(new SchedulerCommand()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        SchedulingConfig config;
        try {
            config = SchedulingConfig.defaults().withCandidateParentLimit(candidateParentLimit)
                    .withFilterParentLimit(filterParentLimit).withHostTtl(Duration.ofSeconds(hostTtlSeconds))
                    .withBackToSourceLimit(backToSourceLimit).withDefaultUploadBitsPerSecond(defaultUploadBitsPerSecond);
            if (metricsPort < -1 || metricsPort > 65535) {
                throw new IllegalArgumentException("--metrics-port: " + metricsPort + " (expected: -1..65535; 0 picks a free one, -1 turns it off)");
            }
            if (statsIntervalSeconds < 1) {
                throw new IllegalArgumentException("--stats-interval-seconds: " + statsIntervalSeconds + " (expected: 1 or more)");
            }
        } catch (IllegalArgumentException e) {
            System.err.println("scheduler: invalid configuration: " + e.getMessage());
            return 2;
        }
        SchedulerServer server;
        try {
            server = SchedulerServer.start(new InetSocketAddress(listen, port), config, Clock.systemUTC(),
                    Duration.ofSeconds(statsIntervalSeconds), metricsPort < 0 ? null : new InetSocketAddress(metricsListen, metricsPort));
        } catch (java.io.IOException e) {
            System.err.println("scheduler: " + e.getMessage());
            return 3;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }, "shutdown"));
        stopped.await();
        return 0;
    }
}
