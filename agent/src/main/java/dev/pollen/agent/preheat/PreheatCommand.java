package dev.pollen.agent.preheat;

import dev.pollen.agent.config.ByteSize;
import dev.pollen.agent.config.CaCertificates;
import dev.pollen.agent.config.ConfigException;
import dev.pollen.agent.config.ConfigLoader;
import dev.pollen.agent.config.DaemonConfig;
import dev.pollen.agent.config.Durations;
import dev.pollen.agent.origin.OriginTrust;
import dev.pollen.agent.upload.PeerTls;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.TaskType;
import dev.pollen.proto.pollen.scheduler.v1.PreheatGrpc;
import dev.pollen.proto.pollen.scheduler.v1.PreheatProgress;
import dev.pollen.proto.pollen.scheduler.v1.PreheatRequest;
import dev.pollen.proto.pollen.scheduler.v1.PreheatScope;
import dev.pollen.scheduler.client.SchedulerChannels;
import dev.pollen.tls.MutualTls;
import dev.pollen.tls.TlsFiles;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code dfdaemon preheat IMAGE}: resolves the image at its registry (index → the platform's manifest → config
 * and layers) and asks the scheduler to have seed peers, all peers or N hosts fetch every blob, printing their
 * progress. Needs no daemon on this machine: only the registry and the scheduler.
 */
@Command(name = "preheat", mixinStandardHelpOptions = true, version = "Pollen dfdaemon preheat 0.1.0",
        description = {
            "Resolves IMAGE at its registry and has the cluster's seed peers (or all hosts, or N hosts) fetch",
            "its config and every layer of one platform, through Pollen's scheduler. IMAGE is",
            "[registry[:port]/]name[:tag][@sha256:digest], as docker and containerd read it.",
            "",
            "The scheduler is reached as the daemon reaches it: scheduler.addresses and, with",
            "scheduler.tls, mutual TLS with upload.client's certificate, from --config and the daemon's",
            "--<key>=<value> flags and DFDAEMON_<KEY> variables (e.g. --scheduler.tls=true)."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {
            "0:every blob reached every target",
            "1:some blob did not reach some target (each failure printed)",
            "2:invalid flags or configuration",
            "3:the scheduler is unreachable, lost, has no Preheat service, or TLS failed (the cause named)",
            "4:the registry could not give the image (unreachable, credentials, not found, no such platform)",
            "5:the scheduler refused the preheat (e.g. no seed peer known)"})
public final class PreheatCommand implements Callable<Integer> {
    static final int OK = 0;
    static final int INCOMPLETE = 1;
    static final int USAGE = 2;
    static final int SCHEDULER = 3;
    static final int REGISTRY = 4;
    static final int REFUSED = 5;
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);

    @Parameters(index = "0", paramLabel = "IMAGE", description = "The image, e.g. docker.io/library/alpine:3.20.")
    String image;

    @Option(names = "--platform", paramLabel = "OS/ARCH[/VARIANT]",
            description = "Which manifest of a multi-platform image (default: linux/<this machine's architecture>).")
    String platform;

    @Option(names = "--scope", paramLabel = "SCOPE", defaultValue = "seed-peers",
            description = "seed-peers (default), all-peers (seed peers first), or count (with --count).")
    String scope;

    @Option(names = "--count", paramLabel = "N", description = "N hosts, seed peers first (implies --scope=count).")
    Integer count;

    @Option(names = "--scheduler", paramLabel = "HOST:PORT", split = ",",
            description = "The scheduler(s) to ask, tried in order (default: scheduler.addresses of --config).")
    List<String> schedulers;

    @Option(names = {"-c", "--config"}, paramLabel = "FILE",
            description = "dfdaemon's YAML configuration: scheduler.addresses, scheduler.tls and upload.client.*, "
                    + "download.backToSource.caCerts.")
    Path config;

    /** The daemon's own configuration flags, {@code --<key>=<value>}, over {@code --config}. */
    @CommandLine.Unmatched
    List<String> overrides = new ArrayList<>();

    @Option(names = "--username", paramLabel = "USER", description = "Registry user (with --password or --password-stdin).")
    String username;

    @Option(names = "--password", paramLabel = "PASSWORD", description = "Registry password; --password-stdin keeps it out of ps.")
    String password;

    @Option(names = "--password-stdin", description = "Read the registry password from standard input.")
    boolean passwordStdin;

    @Option(names = "--registry-config", paramLabel = "FILE",
            description = "A docker config.json to take credentials from (default: ~/.docker/config.json when it exists).")
    Path registryConfig;

    @Option(names = "--plain-http", description = "The registry speaks plain HTTP, not HTTPS.")
    boolean plainHttp;

    @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "30m",
            description = "How long one blob may take on one host (default: ${DEFAULT-VALUE}).")
    String timeout;

    @Option(names = "--concurrency", paramLabel = "N", defaultValue = "0",
            description = "Downloads under way at once across all hosts (default: the scheduler's, 8).")
    int concurrency;

    @Option(names = "--no-progress", description = "Only start, end and failure lines, no byte counts.")
    boolean noProgress;

    private final InputStream stdin;
    private final PrintStream out;
    private final PrintStream err;
    private final Map<String, String> env;
    private final Path home;

    public PreheatCommand() {
        this(System.in, System.out, System.err, System.getenv(), Path.of(System.getProperty("user.home")));
    }

    PreheatCommand(InputStream stdin, PrintStream out, PrintStream err, Map<String, String> env, Path home) {
        this.stdin = stdin;
        this.out = out;
        this.err = err;
        this.env = env;
        this.home = home;
    }

    /** A failure that ends the command: its one line and its exit code. */
    private static final class Exit extends Exception {
        final int code;

        Exit(int code, String message) {
            super(message);
            this.code = code;
        }
    }

    @Override
    public Integer call() {
        try {
            return run();
        } catch (Exit e) {
            err.println("dfdaemon preheat: " + e.getMessage());
            return e.code;
        }
    }

    private int run() throws Exit {
        ImageReference ref = parse(() -> ImageReference.parse(image));
        Platform wanted = platform == null ? Platform.host() : parse(() -> Platform.parse(platform));
        PreheatRequest.Builder request = PreheatRequest.newBuilder();
        request.setScope(scope());
        if (count != null) {
            request.setCount(count);
        }
        Duration perBlob;
        try {
            perBlob = Durations.parse(timeout);
        } catch (IllegalArgumentException e) {
            throw new Exit(USAGE, "--timeout: " + e.getMessage() + " (expected: e.g. 90s, 30m, 2h)");
        }
        request.setTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(perBlob.getSeconds()).setNanos(perBlob.getNano()));
        if (concurrency < 0) {
            throw new Exit(USAGE, "--concurrency: " + concurrency + " (expected: 1 or more, 0 for the scheduler's default)");
        }
        request.setConcurrency(concurrency);
        DaemonConfig daemon;
        try {
            daemon = new ConfigLoader().load(config, env, ConfigLoader.flags(overrides));
        } catch (ConfigException e) {
            throw new Exit(USAGE, "invalid configuration: " + e.getMessage());
        }
        List<String> addresses = schedulers != null ? schedulers : daemon.scheduler().addresses();
        String from = schedulers != null ? "--scheduler" : "scheduler.addresses of " + (config != null ? config : "the default configuration");
        if (addresses.isEmpty()) {
            throw new Exit(USAGE, "no scheduler address (fix: --scheduler HOST:PORT, or --config FILE with scheduler.addresses)");
        }
        Credentials credentials = credentials(ref);

        HttpClient http = HttpClient.newBuilder().connectTimeout(CONNECT_TIMEOUT).followRedirects(HttpClient.Redirect.NORMAL)
                .sslContext(OriginTrust.context(CaCertificates.readAll("download.backToSource.caCerts",
                        daemon.download().backToSource().caCerts())))
                .build();
        RegistryClient registry = new RegistryClient(http, plainHttp, credentials);
        ImageResolver.Resolved resolved;
        try {
            resolved = new ImageResolver(registry).resolve(ref, wanted);
        } catch (RegistryException e) {
            throw new Exit(REGISTRY, e.getMessage());
        } finally {
            http.close();
        }
        out.println("image " + ref + (resolved.platform() != null ? " (" + resolved.platform() + ")" : "") + ": manifest "
                + resolved.manifestDigest() + ", " + resolved.blobs().size() + " blobs, " + ByteSize.human(resolved.bytes()));
        for (ImageResolver.Blob b : resolved.blobs()) {
            request.addDownloads(download(ref, registry, b));
        }
        try (PeerTls tls = PeerTls.load(daemon.upload())) {
            MutualTls scheduler = tls.scheduler(daemon.scheduler());
            TlsFiles shown = scheduler == null ? null : daemon.upload().client().tls().orElseThrow();
            return preheat(request.build(), resolved, addresses, from, scheduler, shown);
        } catch (IOException e) {
            throw new Exit(USAGE, e.getMessage());
        }
    }

    /**
     * One blob as the seeds fetch it, as Dragonfly's preheat builds it (scheduler/job/job.go): the blob's URL on the
     * registry with the Authorization that worked, a standard task. Besides: its digest, which the seed checks, and
     * {@code enable_task_id_based_blob_digest}, so that the task is the blob's whatever registry and repository
     * named it (the mirror's task for the same layer).
     */
    private static Download download(ImageReference ref, RegistryClient registry, ImageResolver.Blob blob) {
        Download.Builder d = Download.newBuilder().setUrl(ref.blobUrl(registry.scheme(), blob.digest())).setType(TaskType.STANDARD)
                .setDigest(blob.digest()).setEnableTaskIdBasedBlobDigest(true);
        registry.authorization().ifPresent(a -> d.putRequestHeader("Authorization", a));
        return d.build();
    }

    /**
     * @param tls for the scheduler connections (as the daemon's), or null: plaintext
     * @param shown the files of {@code tls}, for messages
     */
    private int preheat(PreheatRequest request, ImageResolver.Resolved resolved, List<String> addresses, String from,
                        MutualTls tls, TlsFiles shown) throws Exit {
        List<String> unreachable = new ArrayList<>();
        for (String address : addresses) {
            ManagedChannel channel = SchedulerChannels.open(address, tls);
            PreheatReport report = new PreheatReport(out, resolved.blobs(), !noProgress, System::nanoTime);
            long started = System.nanoTime();
            boolean heard = false;
            try {
                Iterator<PreheatProgress> stream = PreheatGrpc.newBlockingStub(channel).preheatImage(request);
                while (stream.hasNext()) {
                    PreheatProgress p = stream.next();
                    heard = true;
                    report.on(p);
                }
                if (!report.complete()) {
                    throw new Exit(INCOMPLETE, "the scheduler at " + address + " ended the preheat without every blob on every target");
                }
                out.println(report.summary(resolved, Duration.ofNanos(System.nanoTime() - started)));
                return OK;
            } catch (StatusRuntimeException e) {
                Status s = e.getStatus();
                String description = s.getDescription() == null ? s.getCode().toString() : s.getDescription();
                if (s.getCode() == Status.Code.UNAVAILABLE && !heard) {
                    Optional<String> tlsFailure = SchedulerTlsFailure.explain(address, e, shown);
                    if (tlsFailure.isPresent()) {
                        throw new Exit(SCHEDULER, tlsFailure.get());
                    }
                    unreachable.add(address + " (" + description + ")");
                    continue;
                }
                throw switch (s.getCode()) {
                    case ABORTED -> new Exit(INCOMPLETE, "preheat of " + resolved.image() + " incomplete: " + description);
                    case UNIMPLEMENTED -> new Exit(SCHEDULER, "the scheduler at " + address + " (from " + from
                            + ") has no Preheat service (fix: Pollen's scheduler; Dragonfly's preheats through its manager)");
                    case INVALID_ARGUMENT, FAILED_PRECONDITION -> new Exit(REFUSED, "the scheduler at " + address
                            + " refused the preheat: " + description);
                    default -> new Exit(SCHEDULER, "lost the scheduler at " + address + " during the preheat: " + s.getCode() + " "
                            + description + " (the hosts may still be fetching; run it again to see them finish)");
                };
            } finally {
                channel.shutdownNow();
                awaitTermination(channel);
            }
        }
        throw new Exit(SCHEDULER, "cannot reach the scheduler at " + String.join(", ", unreachable) + " (from " + from
                + "; fix: check the address and that the scheduler runs)");
    }

    private PreheatScope scope() throws Exit {
        if (count != null) {
            if (count < 1) {
                throw new Exit(USAGE, "--count: " + count + " (expected: 1 or more)");
            }
            if (!scope.equalsIgnoreCase("seed-peers") && !scope.equalsIgnoreCase("count")) {
                throw new Exit(USAGE, "--count goes with --scope=count, not --scope=" + scope);
            }
            return PreheatScope.COUNT;
        }
        return switch (scope.toLowerCase(Locale.ROOT).replace('_', '-')) {
            case "seed-peers" -> PreheatScope.SEED_PEERS;
            case "all-peers" -> PreheatScope.ALL_PEERS;
            case "count" -> throw new Exit(USAGE, "--scope=count needs --count N");
            default -> throw new Exit(USAGE, "--scope: " + scope + " (expected: seed-peers, all-peers or count)");
        };
    }

    /** --username with a password, else the docker config's entry for the registry, else anonymous (null). */
    private Credentials credentials(ImageReference ref) throws Exit {
        if (password != null && passwordStdin) {
            throw new Exit(USAGE, "--password and --password-stdin: give one");
        }
        if (username == null) {
            if (password != null || passwordStdin) {
                throw new Exit(USAGE, "a password without --username (fix: add --username USER)");
            }
            Path file = registryConfig != null ? registryConfig : home.resolve(".docker/config.json");
            if (registryConfig == null && !Files.isRegularFile(file)) {
                return null;
            }
            try {
                Optional<Credentials> found = DockerConfig.lookup(file, ref.registry());
                return found.orElse(null);
            } catch (IOException e) {
                throw new Exit(USAGE, "cannot read the registry config " + file + ": " + e.getMessage() + " (fix: --registry-config)");
            }
        }
        if (passwordStdin) {
            try {
                String secret = new String(stdin.readAllBytes(), StandardCharsets.UTF_8).strip();
                return new Credentials(username, secret);
            } catch (IOException e) {
                throw new Exit(USAGE, "cannot read the password from standard input: " + e.getMessage());
            }
        }
        if (password == null) {
            throw new Exit(USAGE, "--username without a password (fix: --password-stdin, or --password)");
        }
        return new Credentials(username, password);
    }

    private interface Parse<T> {
        T get();
    }

    private static <T> T parse(Parse<T> parse) throws Exit {
        try {
            return parse.get();
        } catch (IllegalArgumentException | ConfigException e) {
            throw new Exit(USAGE, e.getMessage());
        }
    }

    private static void awaitTermination(ManagedChannel channel) {
        try {
            channel.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
