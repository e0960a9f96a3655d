package dev.pollen.e2e.dragonfly;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.proto.common.v2.Priority;
import dev.pollen.proto.common.v2.TaskType;
import dev.pollen.proto.dfdaemon.v2.DfdaemonDownloadGrpc;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskRequest;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskResponse;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/**
 * A client of a daemon's Unix socket that calls {@code DfdaemonDownload.DownloadTask} as Dragonfly's Rust dfget does
 * (dragonflyoss/client @ff17c0b7, {@code dragonfly-client/src/bin/dfget/main.rs}, {@code download} and the error
 * printing in {@code main}), written from that source:
 *
 * <ul>
 *   <li>transfer mode ({@code --transfer-from-dfdaemon}): {@code need_piece_content=true}, no {@code output_path};
 *       the output is created and truncated before the stream is read, fallocated to the Started message's
 *       {@code content_length}, each piece's {@code content} written at {@code piece.offset}; a piece without
 *       content removes the output and fails ("piece content is missing", printed as "invalid parameter");</li>
 *   <li>default mode: {@code output_path} set (absolute), {@code need_piece_content=false}; dfget writes nothing;</li>
 *   <li>both: the stream must carry a DownloadTaskStartedResponse and every piece number listed there must arrive,
 *       else "download incomplete"; on any failure the output is removed with {@code fs::remove_file(..)?}, so a
 *       missing output turns the failure into "No such file or directory (os error 2)";</li>
 *   <li>errors: the {@code grpc-status-details-bin} bytes parsed as {@code serde_json::from_slice::<Backend>}
 *       ({@code message} and {@code header} required, {@code status_code} optional) print "Bad Status Code:"; any
 *       other status prints "Bad Code:" and the message, and details that are not UTF-8 make dfget panic
 *       ({@code std::str::from_utf8(details).unwrap()}), reported here as {@link Outcome#crashed()}.</li>
 * </ul>
 */
public final class DragonflyDfget implements AutoCloseable {
    /** tonic's {@code Code} Display ({@code description()}), which dfget prints after "Bad Code:". */
    private static final Map<Status.Code, String> CODE_TEXT = Map.ofEntries(
            Map.entry(Status.Code.OK, "The operation completed successfully"),
            Map.entry(Status.Code.CANCELLED, "The operation was cancelled"),
            Map.entry(Status.Code.UNKNOWN, "Unknown error"),
            Map.entry(Status.Code.INVALID_ARGUMENT, "Client specified an invalid argument"),
            Map.entry(Status.Code.DEADLINE_EXCEEDED, "Deadline expired before operation could complete"),
            Map.entry(Status.Code.NOT_FOUND, "Some requested entity was not found"),
            Map.entry(Status.Code.ALREADY_EXISTS, "Some entity that we attempted to create already exists"),
            Map.entry(Status.Code.PERMISSION_DENIED, "The caller does not have permission to execute the specified operation"),
            Map.entry(Status.Code.RESOURCE_EXHAUSTED, "Some resource has been exhausted"),
            Map.entry(Status.Code.FAILED_PRECONDITION, "The system is not in a state required for the operation's execution"),
            Map.entry(Status.Code.ABORTED, "The operation was aborted"),
            Map.entry(Status.Code.OUT_OF_RANGE, "Operation was attempted past the valid range"),
            Map.entry(Status.Code.UNIMPLEMENTED, "Operation is not implemented or not supported"),
            Map.entry(Status.Code.INTERNAL, "Internal error"),
            Map.entry(Status.Code.UNAVAILABLE, "The service is currently unavailable"),
            Map.entry(Status.Code.DATA_LOSS, "Unrecoverable data loss or corruption"),
            Map.entry(Status.Code.UNAUTHENTICATED, "The request does not have valid authentication credentials"));
    private static final Metadata.Key<byte[]> DETAILS = Metadata.Key.of("grpc-status-details-bin", Metadata.BINARY_BYTE_MARSHALLER);
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    /** {@code errordetails.v2.Backend} as serde reads it. */
    public record Backend(String message, Map<String, String> header, Integer statusCode) {
    }

    /**
     * What a dfget run ends with: exit 0 or 1, the lines dfget would print for a failure (after "Downloading
     * Failed!"), the Backend it decoded, the gRPC status, whether it would have panicked, and every message.
     */
    public record Outcome(int exitCode, List<String> printed, Backend backend, Status status, boolean crashed,
            List<DownloadTaskResponse> responses) {
        public boolean ok() {
            return exitCode == 0;
        }

        @Override
        public String toString() {
            return "dfget (Dragonfly) exit " + exitCode + (crashed ? " (panicked)" : "") + ", status " + status
                    + ", printed " + printed + ", " + responses.size() + " responses";
        }
    }

    private final EventLoopGroup loop = new EpollEventLoopGroup(1);
    private final ManagedChannel channel;

    public DragonflyDfget(Path socket) {
        channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toFile()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(loop).usePlaintext()
                .maxInboundMessageSize(128 << 20) // pieces with content: up to 64 MiB each, plus framing
                .build();
    }

    /** {@code dfget URL -O OUTPUT --transfer-from-dfdaemon}. */
    public Outcome transfer(String url, Path output) {
        return run(url, output, true, UnaryOperator.identity());
    }

    /** {@code dfget URL -O OUTPUT}. */
    public Outcome download(String url, Path output) {
        return run(url, output, false, UnaryOperator.identity());
    }

    /** Either mode, the Download message changed by {@code edit} before it is sent (e.g. absurd values). */
    public Outcome run(String url, Path output, boolean transfer, UnaryOperator<Download.Builder> edit) {
        Path out = output.toAbsolutePath();
        // dfget's defaults: tag and application "" (Some), priority 6, timeout 2 h, and (the S3 part of)
        // DEFAULT_PROXY_RULE_FILTERED_QUERY_PARAMS; the test URLs have no query.
        Download.Builder d = Download.newBuilder()
                .setUrl(url).setType(TaskType.STANDARD).setTag("").setApplication("").setPriority(Priority.LEVEL6)
                .addAllFilteredQueryParams(List.of("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                        "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-User-Agent"))
                .setTimeout(Protos.duration(Duration.ofHours(2)))
                .setNeedPieceContent(transfer)
                .setRemoteIp("127.0.0.1");
        if (!transfer) {
            d.setOutputPath(out.toString());
        }
        return run(edit.apply(d).build(), out, transfer);
    }

    private Outcome run(Download download, Path output, boolean transfer) {
        List<DownloadTaskResponse> responses = new ArrayList<>();
        LinkedBlockingQueue<Object> events = new LinkedBlockingQueue<>();
        ClientCall<DownloadTaskRequest, DownloadTaskResponse> call =
                channel.newCall(DfdaemonDownloadGrpc.getDownloadTaskMethod(), CallOptions.DEFAULT.withDeadlineAfter(2, TimeUnit.HOURS));
        call.start(new ClientCall.Listener<>() {
            @Override
            public void onHeaders(Metadata headers) {
                events.add("headers");
            }

            @Override
            public void onMessage(DownloadTaskResponse message) {
                events.add(message);
                call.request(1);
            }

            @Override
            public void onClose(Status status, Metadata trailers) {
                events.add(new Closed(status, trailers));
            }
        }, new Metadata());
        call.sendMessage(DownloadTaskRequest.newBuilder().setDownload(download).build());
        call.halfClose();
        call.request(1);
        try {
            // `download_task(..).await?`: tonic returns once the headers arrived, or the trailers-only error.
            Object first = events.take();
            if (first instanceof Closed closed) {
                return failure(closed.status, closed.trailers, responses);
            }
            RandomAccessFile f = null;
            if (transfer) {
                Files.createDirectories(output.getParent());
                f = new RandomAccessFile(output.toFile(), "rw");
                f.setLength(0);
            }
            try {
                boolean initialized = false;
                Set<Integer> remaining = new HashSet<>();
                while (true) {
                    Object e = events.take();
                    if (e instanceof Closed closed) {
                        if (!closed.status.isOk()) {
                            return removeThen(output, () -> failure(closed.status, closed.trailers, responses), responses);
                        }
                        break;
                    }
                    DownloadTaskResponse r = (DownloadTaskResponse) e;
                    responses.add(r);
                    switch (r.getResponseCase()) {
                        case DOWNLOAD_TASK_STARTED_RESPONSE -> {
                            if (f != null) {
                                f.setLength(r.getDownloadTaskStartedResponse().getContentLength()); // fallocate
                            }
                            initialized = true;
                            remaining = new HashSet<>();
                            for (Piece p : r.getDownloadTaskStartedResponse().getPiecesList()) {
                                remaining.add(p.getNumber());
                            }
                        }
                        case DOWNLOAD_PIECE_FINISHED_RESPONSE -> {
                            if (!r.getDownloadPieceFinishedResponse().hasPiece()) {
                                call.cancel("response piece is missing", null);
                                return removeThen(output, () -> plain("invalid parameter", responses), responses);
                            }
                            Piece piece = r.getDownloadPieceFinishedResponse().getPiece();
                            if (f != null) {
                                if (!piece.hasContent()) {
                                    call.cancel("piece content is missing", null);
                                    f.close();
                                    f = null;
                                    return removeThen(output, () -> plain("invalid parameter (piece content is missing)", responses), responses);
                                }
                                f.seek(piece.getOffset());
                                f.write(piece.getContent().toByteArray());
                            }
                            remaining.remove(piece.getNumber());
                        }
                        default -> {
                            call.cancel("response is missing", null);
                            return removeThen(output, () -> plain("unexpected response", responses), responses);
                        }
                    }
                }
                if (!initialized || !remaining.isEmpty()) {
                    String why = "unknown download incomplete (" + (initialized ? remaining.size() + " pieces not received"
                            : "no DownloadTaskStartedResponse") + ")";
                    return removeThen(output, () -> plain(why, responses), responses);
                }
                return new Outcome(0, List.of(), null, Status.OK, false, responses);
            } finally {
                if (f != null) {
                    f.close();
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            call.cancel("interrupted", e);
            throw new IllegalStateException(e);
        }
    }

    private record Closed(Status status, Metadata trailers) {
    }

    /** {@code fs::remove_file(&args.output).await?} before the error: a missing output replaces it with ENOENT. */
    private static Outcome removeThen(Path output, java.util.function.Supplier<Outcome> then, List<DownloadTaskResponse> responses) {
        try {
            Files.delete(output);
        } catch (java.nio.file.NoSuchFileException e) {
            return plain("No such file or directory (os error 2)", responses);
        } catch (IOException e) {
            return plain(e.toString(), responses);
        }
        return then.get();
    }

    private static Outcome plain(String message, List<DownloadTaskResponse> responses) {
        return new Outcome(1, List.of("Message: " + message), null, null, false, responses);
    }

    /** {@code main}'s {@code Error::TonicStatus} arm. */
    private static Outcome failure(Status status, Metadata trailers, List<DownloadTaskResponse> responses) {
        byte[] details = trailers == null ? null : trailers.get(DETAILS);
        details = details == null ? new byte[0] : details;
        Backend backend = parseBackend(details);
        List<String> printed = new ArrayList<>();
        if (backend != null) {
            if (backend.statusCode() != null) {
                printed.add("Bad Status Code: " + backend.statusCode());
            }
            printed.add("Message: " + backend.message());
            if (!backend.header().isEmpty()) {
                printed.add("Header:");
                backend.header().forEach((k, v) -> printed.add("  [" + k + "]: " + v));
            }
            return new Outcome(1, printed, backend, status, false, responses);
        }
        printed.add("Bad Code: " + CODE_TEXT.get(status.getCode()));
        printed.add("Message: " + (status.getDescription() == null ? "" : status.getDescription()));
        if (details.length > 0) {
            String text = utf8(details);
            if (text == null) {
                return new Outcome(1, printed, null, status, true, responses);
            }
            printed.add("Details: " + text);
        }
        return new Outcome(1, printed, null, status, false, responses);
    }

    /**
     * {@code serde_json::from_slice::<Backend>}: one JSON object (trailing whitespace only), {@code message} a string
     * and {@code header} an object of strings (both required: no {@code #[serde(default)]}), {@code status_code}
     * absent, null or an i32; unknown keys ignored; strings must be valid UTF-8. Null when serde would fail.
     */
    public static Backend parseBackend(byte[] details) {
        if (utf8(details) == null) {
            return null;
        }
        JsonNode n;
        try {
            n = JSON.readTree(details);
        } catch (IOException e) {
            return null;
        }
        if (n == null || !n.isObject() || !n.path("message").isTextual() || !n.path("header").isObject()) {
            return null;
        }
        Map<String, String> header = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = n.get("header").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isTextual()) {
                return null;
            }
            header.put(e.getKey(), e.getValue().asText());
        }
        JsonNode code = n.get("status_code");
        Integer statusCode = null;
        if (code != null && !code.isNull()) {
            if (!code.isIntegralNumber() || !code.canConvertToInt()) {
                return null;
            }
            statusCode = code.intValue();
        }
        return new Backend(n.get("message").asText(), header, statusCode);
    }

    private static String utf8(byte[] bytes) {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    @Override
    public void close() {
        channel.shutdownNow();
        try {
            channel.awaitTermination(10, TimeUnit.SECONDS);
            loop.shutdownGracefully(0, 0, TimeUnit.SECONDS).await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
