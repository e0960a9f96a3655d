package dev.pollen.scheduler;

import dev.pollen.tls.MutualTls;
import dev.pollen.tls.TlsFiles;
import dev.pollen.tls.TlsRefusals;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
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

    @Option(names = "--tls-ca-cert", paramLabel = "PEM",
            description = "Mutual TLS: the CA that signs every node's certificate; with --tls-cert and --tls-key, peers must show one it signed.")
    Path tlsCaCert;

    @Option(names = "--tls-cert", paramLabel = "PEM", description = "Mutual TLS: this scheduler's certificate (shown to peers and to their upload servers).")
    Path tlsCert;

    @Option(names = "--tls-key", paramLabel = "PEM", description = "Mutual TLS: the PKCS#8 key of --tls-cert.")
    Path tlsKey;

    @Option(names = "--tls-reload-seconds", defaultValue = "60",
            description = "How often the TLS files are looked at and read again if changed (default: ${DEFAULT-VALUE}).")
    long tlsReloadSeconds;

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
            int tlsFiles = (tlsCaCert == null ? 0 : 1) + (tlsCert == null ? 0 : 1) + (tlsKey == null ? 0 : 1);
            if (tlsFiles != 0 && tlsFiles != 3) {
                throw new IllegalArgumentException("--tls-ca-cert, --tls-cert, --tls-key: " + tlsFiles + " of 3 given (expected: all three, or none)");
            }
            if (tlsReloadSeconds < 1) {
                throw new IllegalArgumentException("--tls-reload-seconds: " + tlsReloadSeconds + " (expected: 1 or more)");
            }
            if (statsIntervalSeconds < 1) {
                throw new IllegalArgumentException("--stats-interval-seconds: " + statsIntervalSeconds + " (expected: 1 or more)");
            }
        } catch (IllegalArgumentException e) {
            System.err.println("scheduler: invalid configuration: " + e.getMessage());
            return 2;
        }
        ScheduledExecutorService reloader = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().name("tls-reload").daemon().factory());
        MutualTls tls = null;
        SchedulerServer server;
        try {
            if (tlsCaCert != null) {
                tls = MutualTls.load("--tls-ca-cert/--tls-cert/--tls-key", new TlsFiles(tlsCaCert, tlsCert, tlsKey), Duration.ofSeconds(tlsReloadSeconds), reloader,
                        new TlsRefusals());
            }
            server = SchedulerServer.start(new InetSocketAddress(listen, port), config, Clock.systemUTC(),
                    Duration.ofSeconds(statsIntervalSeconds), metricsPort < 0 ? null : new InetSocketAddress(metricsListen, metricsPort),
                    tls);
        } catch (java.io.IOException e) {
            System.err.println("scheduler: " + e.getMessage());
            reloader.shutdownNow();
            return 3;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            reloader.shutdownNow();
            stopped.countDown();
        }, "shutdown"));
        stopped.await();
        return 0;
    }
}
