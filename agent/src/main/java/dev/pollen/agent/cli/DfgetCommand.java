package dev.pollen.agent.cli;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.config.ByteSize;
import dev.pollen.agent.config.Durations;
import dev.pollen.agent.storage.ContentDigest;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.proto.common.v2.TrafficType;
import dev.pollen.proto.dfdaemon.v2.DfdaemonDownloadGrpc;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskRequest;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskResponse;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code dfget}: downloads a file through the local dfdaemon, flags compatible with Dragonfly's dfget. */
@Command(name = "dfget", mixinStandardHelpOptions = true, version = "Pollen dfget 0.1.0", sortOptions = false,
        description = {
            "Download URL through the local dfdaemon (peers first, the origin when no peer has it) to the",
            "path given with -O. The file appears there only when complete and verified.",
            "",
            "Example: dfget https://example.com/big.tar -O big.tar --digest sha256:<hex>"},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {
            "0:downloaded and verified",
            "1:internal error in dfdaemon",
            "2:invalid arguments (bad URL, digest, header or flag)",
            "3:cannot connect to dfdaemon at the socket, or it went away mid-download (run again to resume)",
            "4:the origin refused or failed (404, 403, 5xx, unreachable)",
            "5:the content does not match --digest",
            "6:--timeout passed, or no progress for --stall-timeout",
            "7:output file exists (use --overwrite) or output path unusable",
            "8:no space left on device",
            "9:no peer has the file and --disable-back-to-source is set"})
public final class DfgetCommand implements Callable<Integer> {
    static final String DEFAULT_SOCKET = "/var/run/pollen/dfdaemon.sock";
    /**
     * Longer than the daemon's worst quiet spell on a healthy download: a piece retried against the origin
     * (5 retries of up to download.pieceTimeout, 60 s) before the next piece lands.
     */
    static final String DEFAULT_STALL_TIMEOUT = "10m";

    @Parameters(index = "0", paramLabel = "URL", description = "http:// or https:// URL to download.")
    String url;

    @Option(names = {"-O", "--output"}, required = true, paramLabel = "PATH",
            description = "Where to write the file; relative paths are resolved against the current directory.")
    Path output;

    @Option(names = "--digest", paramLabel = "ALG:VALUE",
            description = "Verify the whole file: sha256:<hex>, sha512:<hex> or crc32:<decimal>.")
    String digest;

    @Option(names = {"-H", "--header"}, paramLabel = "'NAME: VALUE'",
            description = "Request header for the origin, repeatable (e.g. -H 'Authorization: Bearer ...').")
    List<String> headers = new java.util.ArrayList<>();

    @Option(names = "--tag", description = "Tag that separates tasks of the same URL.")
    String tag;

    @Option(names = "--application", description = "Caller's application name; part of the task id.")
    String application;

    @Option(names = "--filtered-query-param", paramLabel = "NAME",
            description = "Query parameter to ignore when computing the task id, repeatable (signed-URL parameters).")
    List<String> filteredQueryParams = new java.util.ArrayList<>();

    @Option(names = "--piece-length", paramLabel = "SIZE", description = "Fixed piece length (e.g. 8MiB); default: by content length.")
    String pieceLength;

    @Option(names = "--timeout", paramLabel = "DURATION", description = "Give up after this long (e.g. 30s, 2h); default: no limit.")
    String timeout;

    @Option(names = "--stall-timeout", paramLabel = "DURATION", defaultValue = DEFAULT_STALL_TIMEOUT,
            description = "Give up when the daemon reports no progress for this long (default: ${DEFAULT-VALUE}; 0s: never).")
    String stallTimeout;

    @Option(names = "--overwrite", description = "Replace an existing output file.")
    boolean overwrite;

    @Option(names = "--force-hard-link", description = "Hard-link the output to the daemon's stored copy instead of copying; fails if they are on different filesystems.")
    boolean forceHardLink;

    @Option(names = "--disable-back-to-source", description = "Never fetch from the origin; fail if no peer has the file.")
    boolean disableBackToSource;

    @Option(names = "--no-progress", description = "No progress bar; only the summary line.")
    boolean noProgress;

    @Option(names = {"-e", "--endpoint"}, paramLabel = "SOCKET", defaultValue = "${env:DFGET_ENDPOINT:-" + DEFAULT_SOCKET + "}",
            description = "dfdaemon's Unix socket (default: ${DEFAULT-VALUE}; env DFGET_ENDPOINT).")
    Path endpoint;

    private final PrintStream err;

    public DfgetCommand() {
        this(System.err);
    }

    DfgetCommand(PrintStream err) {
        this.err = err;
    }

    public static void main(String[] args) {
        // Libraries fall back to java.util.logging when no SLF4J backend is bound (the launcher binds
        // none, for start-up time); dfget reports every failure itself, so their chatter is dropped.
        java.util.logging.LogManager.getLogManager().reset();
        System.exit(new CommandLine(new DfgetCommand()).execute(args));
    }

    @Override
    public Integer call() {
        Download download;
        Duration stallLimit;
        try {
            download = download();
            stallLimit = Durations.parse(stallTimeout);
        } catch (PollenException | IllegalArgumentException e) {
            err.println("dfget: " + e.getMessage());
            return 2;
        }
        if (!Files.exists(endpoint)) {
            return cannotConnect();
        }
        EventLoopGroup loop = new EpollEventLoopGroup(1, new DefaultThreadFactory("dfget-io", true));
        ManagedChannel channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(endpoint.toFile()))
                .channelType(EpollDomainSocketChannel.class)
                .eventLoopGroup(loop)
                .usePlaintext()
                .maxInboundMessageSize(64 << 20)
                .build();
        Progress progress = new Progress(err, isTerminal(), !noProgress, System::nanoTime);
        Context.CancellableContext call = Context.current().withCancellation();
        boolean answered = false;
        try (StallWatch watch = new StallWatch(stallLimit, call)) {
            var stub = DfdaemonDownloadGrpc.newBlockingStub(channel);
            if (download.hasTimeout()) {
                // The daemon enforces the timeout and says so; the deadline is only a backstop.
                stub = stub.withDeadlineAfter(download.getTimeout().getSeconds() + 5, TimeUnit.SECONDS);
            }
            Context previous = call.attach();
            try {
                Iterator<DownloadTaskResponse> responses = stub.downloadTask(DownloadTaskRequest.newBuilder().setDownload(download).build());
                while (responses.hasNext()) {
                    DownloadTaskResponse r = responses.next();
                    answered = true;
                    watch.progress();
                    if (r.hasDownloadTaskStartedResponse()) {
                        progress.started(r.getDownloadTaskStartedResponse().getContentLength());
                    } else if (r.hasDownloadPieceFinishedResponse()) {
                        Piece p = r.getDownloadPieceFinishedResponse().getPiece();
                        progress.piece(p.getLength(), source(p.getTrafficType()));
                    }
                }
            } finally {
                call.detach(previous);
            }
            progress.finish();
            err.println(progress.summary());
            return 0;
        } catch (StatusRuntimeException e) {
            progress.finish();
            return failed(e, answered);
        } finally {
            call.cancel(null);
            channel.shutdownNow();
            loop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
        }
    }

    /** One line naming what happened and what to do, and the exit code for it. */
    private int failed(StatusRuntimeException e, boolean answered) {
        Status status = e.getStatus();
        if (status.getCause() instanceof StallWatch.Stalled) {
            err.println("dfget: the daemon at " + endpoint + " reported no progress for " + stallTimeout
                    + "; the download is stalled (fix: see the daemon's log; running the same command again resumes;"
                    + " --stall-timeout sets the limit)");
            return ErrorCode.TIMEOUT.exitCode();
        }
        if (status.getCode() == Status.Code.UNAVAILABLE && !ExitCodes.fromDaemon(e.getTrailers())) {
            // The transport's own UNAVAILABLE: no connection at all, or one that broke under the call.
            if (!answered && status.getCause() != null) {
                return cannotConnect();
            }
            err.println("dfget: the daemon at " + endpoint + " closed the connection mid-download (it stopped or"
                    + " restarted); running the same command again resumes");
            return ExitCodes.DAEMON_UNAVAILABLE;
        }
        err.println("dfget: " + status.getDescription());
        return ExitCodes.of(status, e.getTrailers());
    }

    private int cannotConnect() {
        if (deniedToThisUser()) {
            err.println("dfget: cannot connect to dfdaemon at " + endpoint + ": permission denied (fix: run dfget in the"
                    + " socket's group, e.g. the pod's securityContext.supplementalGroups: [agent.socket.group] of the Helm"
                    + " chart, or widen download.server.socketMode)");
        } else {
            err.println("dfget: cannot connect to dfdaemon at " + endpoint + " — is it running? (fix: start dfdaemon, or pass -e SOCKET)");
        }
        return ExitCodes.DAEMON_UNAVAILABLE;
    }

    /** A daemon may well be there, behind a socket or directory this user may not use (a socket shared by group). */
    private boolean deniedToThisUser() {
        Path dir = endpoint.toAbsolutePath().getParent();
        boolean dirClosed = dir != null && Files.isDirectory(dir) && !Files.isExecutable(dir);
        return dirClosed || Files.exists(endpoint) && !Files.isWritable(endpoint);
    }

    private Download download() {
        Download.Builder d = Download.newBuilder()
                .setUrl(url)
                .setOutputPath(output.toAbsolutePath().normalize().toString())
                .addAllFilteredQueryParams(filteredQueryParams)
                .putAllRequestHeader(parseHeaders(headers))
                .setOverwrite(overwrite)
                .setForceHardLink(forceHardLink)
                .setDisableBackToSource(disableBackToSource);
        if (digest != null) {
            d.setDigest(ContentDigest.parse(digest).toString());
        }
        if (tag != null) {
            d.setTag(tag);
        }
        if (application != null) {
            d.setApplication(application);
        }
        if (pieceLength != null) {
            d.setPieceLength(ByteSize.parse(pieceLength).bytes());
        }
        if (timeout != null) {
            Duration t = Durations.parse(timeout);
            d.setTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(t.getSeconds()).setNanos(t.getNano()));
        }
        return d.build();
    }

    static Map<String, String> parseHeaders(List<String> headers) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String h : headers) {
            int colon = h.indexOf(':');
            if (colon <= 0) {
                throw new IllegalArgumentException("invalid header '" + h + "' (expected: -H 'Name: value')");
            }
            out.put(h.substring(0, colon).trim(), h.substring(colon + 1).trim());
        }
        return out;
    }

    private static Progress.Source source(TrafficType type) {
        return switch (type) {
            case REMOTE_PEER -> Progress.Source.PEER;
            case LOCAL_PEER -> Progress.Source.LOCAL;
            default -> Progress.Source.ORIGIN;
        };
    }

    /** Whether stderr is a terminal; a progress bar redrawn with \r only makes sense there. */
    private static boolean isTerminal() {
        try {
            String target = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }
}
