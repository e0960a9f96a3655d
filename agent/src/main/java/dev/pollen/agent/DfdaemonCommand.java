package dev.pollen.agent;

import dev.pollen.agent.config.ConfigException;
import dev.pollen.agent.config.ConfigLoader;
import dev.pollen.agent.config.CpuBudget;
import dev.pollen.agent.config.DaemonConfig;
import dev.pollen.agent.config.ThreadsConfig;
import dev.pollen.agent.api.SocketStartupException;
import dev.pollen.agent.setup.ContainerdConfigCommand;
import dev.pollen.agent.preheat.PreheatCommand;
import dev.pollen.agent.upload.CorruptingPieces;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code dfdaemon}: the node agent. Runs until SIGTERM or SIGINT, then shuts down gracefully. */
@Command(name = "dfdaemon", mixinStandardHelpOptions = true, version = "Pollen dfdaemon 0.1.0",
        subcommands = {ContainerdConfigCommand.class, PreheatCommand.class},
        description = {
            "Pollen's node agent: serves the Dragonfly v2 DfdaemonDownload API on a Unix socket and",
            "downloads files for dfget. Starts with an embedded default configuration when given none.",
            "",
            "Every configuration key can also be set as a flag, --<key>=<value> (e.g.",
            "--download.server.socketPath=/run/pollen/dfdaemon.sock), or as an environment variable",
            "DFDAEMON_<KEY> with dots as underscores (e.g. DFDAEMON_DOWNLOAD_CONCURRENTPIECECOUNT=4)."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {
            "143:stopped by SIGTERM (130: SIGINT), after a graceful shutdown",
            "2:invalid configuration (the message names the key)",
            "10:another dfdaemon holds the socket's lock file",
            "11:another dfdaemon is serving on the socket",
            "12:something that is not a socket is at the socket path",
            "13:the socket path is unusable"})
public final class DfdaemonCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(DfdaemonCommand.class);
    /** A port or the storage could not be used at start-up (after the socket's own codes, 10..13). */
    static final int STARTUP_FAILED = 14;

    @Option(names = {"-c", "--config"}, paramLabel = "FILE", description = "YAML configuration file (dfdaemon.yaml key names).")
    Path config;

    @Option(names = "--print-config", description = "Print the effective configuration and exit.")
    boolean printConfig;

    @Option(names = "--debug-fault-injection", paramLabel = "FAULT",
            description = {"Tests only, never in production: corrupt-uploads flips one byte of every piece this node",
                "uploads to peers; forge-uploads also announces the CRC-32 of the flipped bytes. Only this flag",
                "enables it (no config key or environment variable does); logged as a warning at start-up."})
    String faultInjection;

    @CommandLine.Unmatched
    List<String> overrides = new java.util.ArrayList<>();

    public static void main(String[] args) {
        System.exit(new CommandLine(new DfdaemonCommand()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        DaemonConfig effective;
        ThreadsConfig.Effective threads;
        try {
            effective = new ConfigLoader().load(config, System.getenv(), ConfigLoader.flags(overrides));
            threads = effective.conclude(CpuBudget.detect());
        } catch (ConfigException e) {
            System.err.println("dfdaemon: invalid configuration: " + e.getMessage());
            return 2;
        }
        CorruptingPieces.Fault uploadFault = faultInjection == null ? null : CorruptingPieces.Fault.of(faultInjection);
        if (faultInjection != null && uploadFault == null) {
            System.err.println("dfdaemon: --debug-fault-injection: " + faultInjection + " (expected: "
                    + CorruptingPieces.Fault.CORRUPT.flag() + " or " + CorruptingPieces.Fault.FORGE.flag() + ")");
            return 2;
        }
        if (printConfig) {
            System.out.println(effective);
            return 0;
        }
        log.info("event=config {}", effective);
        if (uploadFault != null) {
            log.warn("event=fault_injection_enabled fault={} effect=\"every piece this node uploads is corrupted;"
                    + " tests only, never in production\"", faultInjection);
        }
        Daemon daemon;
        try {
            // Virtual threads' carriers sized by the same CPU budget (a cgroup quota the JVM did not see
            // counts too); only before the first virtual thread starts, and never over an explicit -D.
            if (System.getProperty(Daemon.VIRTUAL_THREAD_PARALLELISM) == null) {
                System.setProperty(Daemon.VIRTUAL_THREAD_PARALLELISM, String.valueOf(threads.cpus().cpus()));
            }
            daemon = Daemon.start(effective, threads, Clock.systemUTC(), uploadFault);
        } catch (SocketStartupException e) {
            log.error("event=startup_refused reason={} message=\"{}\"", e.reason(), e.getMessage());
            System.err.println("dfdaemon: " + e.getMessage());
            return e.reason().exitCode();
        } catch (IOException e) {
            // A port in use or a directory it cannot use: the message names the key to change.
            log.error("event=startup_failed message=\"{}\"", e.getMessage());
            System.err.println("dfdaemon: " + e.getMessage());
            return STARTUP_FAILED;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        long hardStopMillis = effective.download().server().shutdownGracePeriod().toMillis() + 15_000;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            // A supervisor waits for the exit; a shutdown stuck past the grace period must not keep it waiting.
            Thread watchdog = Thread.ofPlatform().daemon().name("shutdown-watchdog").start(() -> {
                try {
                    Thread.sleep(hardStopMillis);
                    log.error("event=shutdown_stuck after_ms={} action=halt", hardStopMillis);
                    Runtime.getRuntime().halt(1);
                } catch (InterruptedException done) {
                    // shutdown finished in time
                }
            });
            daemon.close();
            watchdog.interrupt();
            stopped.countDown();
        }, "shutdown"));
        stopped.await();
        return 0;
    }
}
