package dev.pollen.e2e.dragonfly;

import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Network;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.proto.common.v2.Priority;
import dev.pollen.proto.common.v2.Task;
import dev.pollen.proto.common.v2.TaskType;
import dev.pollen.proto.common.v2.TrafficType;
import dev.pollen.proto.dfdaemon.v2.DfdaemonUploadGrpc;
import dev.pollen.proto.dfdaemon.v2.StatTaskRequest;
import dev.pollen.proto.dfdaemon.v2.SyncHostRequest;
import dev.pollen.proto.dfdaemon.v2.SyncPiecesRequest;
import dev.pollen.proto.dfdaemon.v2.SyncPiecesResponse;
import dev.pollen.proto.scheduler.v2.AnnounceHostRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerResponse;
import dev.pollen.proto.scheduler.v2.DownloadPeerBackToSourceFailedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPeerBackToSourceFinishedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPeerBackToSourceStartedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPeerFinishedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPeerStartedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPieceBackToSourceFinishedRequest;
import dev.pollen.proto.scheduler.v2.RegisterPeerRequest;
import dev.pollen.proto.scheduler.v2.SchedulerGrpc;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Deadline;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.CRC32;

/**
 * A peer in the test JVM that behaves as Dragonfly's Rust dfdaemon (dragonflyoss/client @ff17c0b7,
 * vortex-protocol @3bca5de6), written from that source:
 *
 * <ul>
 *   <li>toward children, a {@code DfdaemonUpload} gRPC server ({@code dragonfly-client/src/grpc/dfdaemon_upload.rs}):
 *       {@code sync_pieces} answers with a stream at once and sends each finished interested piece with its
 *       {@code ip} and {@code tcp_port}, polling every 100 ms, until all were sent, or after one pass when the task
 *       was finished at the start; an unknown task is an in-stream {@code INTERNAL "task <id> not found"}.
 *       {@code stat_task} does not read local storage: it returns the scheduler's {@code StatTask} answer.
 *       {@code sync_host} streams a Host with network figures about once a second;</li>
 *   <li>a Vortex TCP server ({@code dragonfly-client-storage/src/server/tcp.rs handle}): one request per connection,
 *       then close; a missing piece is Error code 2 (NotFound) {@code "piece <task>-<n> not found"}; PieceContent
 *       metadata as {@code vortex-protocol src/tlv/piece_content.rs} lays it out, the raw bytes after it;</li>
 *   <li>toward the scheduler ({@code resource/task.rs download_started} / {@code download_partial_with_scheduler}):
 *       a {@code Range: bytes=0-0} GET to learn the length ({@code dragonfly-client-backend/src/http.rs stat}),
 *       AnnounceHost, then RegisterPeerRequest with {@code actual_*}; on NeedBackToSourceResponse
 *       DownloadPeerBackToSourceStarted, range GETs per piece with DownloadPieceBackToSourceFinished
 *       ({@code crc32:<decimal>}, cost, created_at), DownloadPeerBackToSourceFinished; on EmptyTaskResponse
 *       DownloadPeerStarted + DownloadPeerFinished. A NormalTaskResponse is not needed by the tests: it fails.</li>
 * </ul>
 */
public final class DragonflyPeer implements AutoCloseable {
    /** {@code piece.rs MIN_PIECE_LENGTH} and the 64 MiB cap of {@code calculate_piece_length}. */
    static final long MIN_PIECE_LENGTH = 4L << 20;
    static final long MAX_PIECE_LENGTH = 64L << 20;
    /** {@code DEFAULT_WAIT_FOR_PIECE_FINISHED_INTERVAL} of {@code sync_pieces}. */
    static final Duration SYNC_PIECES_POLL = Duration.ofMillis(100);
    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes \\d+-\\d+/(\\d+)");
    private static final int DOWNLOAD_PIECE = 0;
    private static final int PIECE_CONTENT = 1;
    private static final int ERROR = 255;
    private static final int NOT_FOUND = 2;

    /** One piece in local storage ({@code dragonfly-client-storage/src/metadata.rs Piece}). */
    record StoredPiece(int number, long offset, long length, String digest, Instant createdAt, Instant finishedAt) {
        Duration cost() {
            return Duration.between(createdAt, finishedAt);
        }
    }

    /** A task in local storage; {@code finished} once every piece is. */
    private static final class LocalTask {
        final String id;
        final long contentLength;
        final long pieceLength;
        final Path file;
        final Map<Integer, StoredPiece> pieces = new ConcurrentHashMap<>();
        volatile boolean finished;

        LocalTask(String id, long contentLength, long pieceLength, Path file) {
            this.id = id;
            this.contentLength = contentLength;
            this.pieceLength = pieceLength;
            this.file = file;
        }

        int pieceCount() {
            return (int) ((contentLength + pieceLength - 1) / pieceLength);
        }
    }

    /**
     * What one {@link #download} did. {@code streamEndedByScheduler}: the scheduler closed the announce stream after
     * the finished message, as Go's {@code AnnouncePeer} loop does ({@code return nil}); the Rust client waits for
     * that ({@code in_stream_tx.closed().await} in {@code task.rs}), so a scheduler that does not close it leaves the
     * Rust download hanging. This peer waits {@link #STREAM_END_WAIT}, records what happened and returns (leaving
     * the stream open, as the Rust peer would).
     */
    public record Result(String taskId, String peerId, long contentLength, long pieceLength, List<AnnouncePeerResponse> responses,
            boolean streamEndedByScheduler) {
    }

    static final Duration STREAM_END_WAIT = Duration.ofSeconds(5);

    private final String ip;
    private final String hostname;
    private final Path storage;
    private final ManagedChannel schedulerChannel;
    private final Server upload;
    private final ServerSocketChannel vortex;
    private final ExecutorService workers = Executors.newVirtualThreadPerTaskExecutor();
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private final Map<String, LocalTask> tasks = new ConcurrentHashMap<>();
    private final AtomicInteger vortexServed = new AtomicInteger();
    private final AtomicInteger vortexNotFound = new AtomicInteger();
    private final AtomicInteger syncPiecesCalls = new AtomicInteger();
    private final AtomicInteger statTaskCalls = new AtomicInteger();
    private final List<Deadline> inboundDeadlines = new CopyOnWriteArrayList<>();

    private DragonflyPeer(String ip, String hostname, String schedulerAddress, Path storage) throws IOException {
        this.ip = ip;
        this.hostname = hostname;
        this.storage = Files.createDirectories(storage);
        this.schedulerChannel = NettyChannelBuilder.forTarget(schedulerAddress).usePlaintext().build();
        ServerInterceptor deadlines = new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
                Deadline d = Context.current().getDeadline();
                if (d != null) {
                    inboundDeadlines.add(d);
                }
                return Contexts.interceptCall(Context.current(), call, headers, next);
            }
        };
        this.upload = NettyServerBuilder.forAddress(new InetSocketAddress(ip, 0))
                .addService(ServerInterceptors.intercept(new Upload(), deadlines))
                .build()
                .start();
        this.vortex = ServerSocketChannel.open().bind(new InetSocketAddress(ip, 0));
        workers.submit(this::acceptVortex);
    }

    /**
     * Starts the servers on {@code ip} (any 127.x address works on Linux, so several "hosts" share this machine) and
     * announces the host to the scheduler at {@code schedulerAddress}.
     */
    public static DragonflyPeer start(String ip, String hostname, String schedulerAddress, Path storage) {
        try {
            DragonflyPeer peer = new DragonflyPeer(ip, hostname, schedulerAddress, storage);
            peer.announceHost();
            return peer;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the Dragonfly-style peer on " + ip, e);
        }
    }

    /** {@code id_generator host_id}: {@code "{ip}-{hostname}"}. */
    public String hostId() {
        return ip + "-" + hostname;
    }

    public String ip() {
        return ip;
    }

    public int uploadPort() {
        return upload.getPort();
    }

    public int vortexPort() {
        return ((InetSocketAddress) uncheckedLocalAddress()).getPort();
    }

    /** Pieces sent whole over Vortex. */
    public int vortexServed() {
        return vortexServed.get();
    }

    /** Vortex requests answered NotFound. */
    public int vortexNotFound() {
        return vortexNotFound.get();
    }

    public int syncPiecesCalls() {
        return syncPiecesCalls.get();
    }

    public int statTaskCalls() {
        return statTaskCalls.get();
    }

    /** The deadlines (grpc-timeout) the upload server's calls arrived with. */
    public List<Deadline> inboundDeadlines() {
        return List.copyOf(inboundDeadlines);
    }

    /** {@code announcer/mod.rs}: the host with its gRPC port as both {@code port} and {@code download_port}. */
    public void announceHost() {
        SchedulerGrpc.newBlockingStub(schedulerChannel).withDeadlineAfter(10, TimeUnit.SECONDS)
                .announceHost(AnnounceHostRequest.newBuilder().setHost(host())
                        .setInterval(Protos.duration(Duration.ofMinutes(5))).build());
    }

    private Host host() {
        return Host.newBuilder()
                .setId(hostId())
                .setType(0)
                .setHostname(hostname)
                .setIp(ip)
                .setPort(uploadPort())
                .setDownloadPort(uploadPort())
                .setOs("linux")
                .setPlatform("debian")
                .setKernelVersion(System.getProperty("os.version"))
                .setNetwork(Network.newBuilder().setMaxRxBandwidth(10_000_000_000L).setMaxTxBandwidth(10_000_000_000L))
                .build();
    }

    /** {@code id_generator task_id} for a URL with no tag, application or fixed piece length. */
    public static String taskId(String url) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest((url + "STANDARD").getBytes(StandardCharsets.UTF_8)));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** {@code piece.rs calculate_piece_length}: next power of two of length/500, clamped to [4 MiB, 64 MiB]. */
    public static long pieceLength(long contentLength) {
        long l = contentLength / 500;
        long p = l <= 1 ? 1 : Long.highestOneBit(l - 1) << 1;
        return Math.min(MAX_PIECE_LENGTH, Math.max(MIN_PIECE_LENGTH, p));
    }

    /**
     * Downloads {@code url} as {@code dfdaemon_download.rs download_task} does for dfget, through the scheduler
     * (the direct-from-source shortcut for content of 4 MiB or less included), and returns what happened.
     */
    public Result download(String url) {
        try {
            long contentLength = statOrigin(url);
            long pieceLength = pieceLength(contentLength);
            String taskId = taskId(url);
            String peerId = hostId() + "-" + UUID.randomUUID();
            LocalTask task = new LocalTask(taskId, contentLength, pieceLength, storage.resolve(taskId));
            try (FileChannel f = FileChannel.open(task.file, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
                f.truncate(0);
            }
            tasks.put(taskId, task);
            if (contentLength == 0) {
                task.finished = true; // no interested pieces: the scheduler is never contacted
                return new Result(taskId, peerId, 0, pieceLength, List.of(), true);
            }
            if (contentLength <= MIN_PIECE_LENGTH) {
                for (int n = 0; n < task.pieceCount(); n++) {
                    fetchPiece(url, task, n);
                }
                task.finished = true;
                return new Result(taskId, peerId, contentLength, pieceLength, List.of(), true);
            }
            List<AnnouncePeerResponse> responses = new ArrayList<>();
            boolean ended = withScheduler(url, task, peerId, responses);
            return new Result(taskId, peerId, contentLength, pieceLength, responses, ended);
        } catch (IOException e) {
            throw new UncheckedIOException("download of " + url + " failed", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** {@code http.rs stat}: GET with {@code Range: bytes=0-0}; 416 retried without the Range. */
    private long statOrigin(String url) throws IOException, InterruptedException {
        HttpResponse<Void> r = http.send(HttpRequest.newBuilder(URI.create(url)).header("Range", "bytes=0-0").GET().build(),
                HttpResponse.BodyHandlers.discarding());
        if (r.statusCode() == 416) {
            r = http.send(HttpRequest.newBuilder(URI.create(url)).GET().build(), HttpResponse.BodyHandlers.discarding());
        }
        if (r.statusCode() / 100 != 2) {
            throw new IOException("origin answered " + r.statusCode() + " for " + url);
        }
        if (r.statusCode() == 206) {
            Matcher m = CONTENT_RANGE.matcher(r.headers().firstValue("content-range").orElse(""));
            if (m.matches()) {
                return Long.parseLong(m.group(1));
            }
        }
        return r.headers().firstValueAsLong("content-length").orElseThrow(() -> new IOException("invalid content length"));
    }

    /** {@code task.rs download_partial_with_scheduler}: the announce stream, its answers handled as the Rust client does. */
    private boolean withScheduler(String url, LocalTask task, String peerId, List<AnnouncePeerResponse> responses)
            throws InterruptedException {
        LinkedBlockingQueue<Object> answers = new LinkedBlockingQueue<>();
        ReentrantLock sendLock = new ReentrantLock();
        StreamObserver<AnnouncePeerRequest> requests = SchedulerGrpc.newStub(schedulerChannel).announcePeer(new StreamObserver<>() {
            @Override
            public void onNext(AnnouncePeerResponse r) {
                answers.add(r);
            }

            @Override
            public void onError(Throwable t) {
                answers.add(t);
            }

            @Override
            public void onCompleted() {
                answers.add("completed");
            }
        });
        AnnouncePeerRequest.Builder envelope = AnnouncePeerRequest.newBuilder().setHostId(hostId()).setTaskId(task.id).setPeerId(peerId);
        java.util.function.Consumer<AnnouncePeerRequest> send = r -> {
            sendLock.lock();
            try {
                requests.onNext(r);
            } finally {
                sendLock.unlock();
            }
        };
        Download download = Download.newBuilder()
                .setUrl(url).setType(TaskType.STANDARD).setTag("").setApplication("").setPriority(Priority.LEVEL0)
                .setConcurrentPieceCount(8)
                .setActualContentLength(task.contentLength)
                .setActualPieceLength(task.pieceLength)
                .setActualPieceCount(task.pieceCount())
                .build();
        send.accept(envelope.clone().setRegisterPeerRequest(RegisterPeerRequest.newBuilder().setDownload(download)).build());
        Object answer = answers.poll(60, TimeUnit.SECONDS);
        if (!(answer instanceof AnnouncePeerResponse response)) {
            requests.onCompleted();
            throw new AssertionError("the scheduler answered the registration with " + answer);
        }
        responses.add(response);
        switch (response.getResponseCase()) {
            case EMPTY_TASK_RESPONSE -> {
                send.accept(envelope.clone().setDownloadPeerStartedRequest(DownloadPeerStartedRequest.getDefaultInstance()).build());
                send.accept(envelope.clone().setDownloadPeerFinishedRequest(DownloadPeerFinishedRequest.getDefaultInstance()).build());
            }
            case NEED_BACK_TO_SOURCE_RESPONSE -> {
                send.accept(envelope.clone().setDownloadPeerBackToSourceStartedRequest(
                        DownloadPeerBackToSourceStartedRequest.getDefaultInstance()).build());
                try (ExecutorService pool = Executors.newFixedThreadPool(4)) {
                    List<Future<StoredPiece>> pieces = new ArrayList<>();
                    for (int n = 0; n < task.pieceCount(); n++) {
                        int number = n;
                        pieces.add(pool.submit(() -> {
                            StoredPiece p = fetchPiece(url, task, number);
                            send.accept(envelope.clone().setDownloadPieceBackToSourceFinishedRequest(
                                    DownloadPieceBackToSourceFinishedRequest.newBuilder().setPiece(Piece.newBuilder()
                                            .setNumber(p.number()).setOffset(p.offset()).setLength(p.length())
                                            .setDigest(p.digest()).setTrafficType(TrafficType.BACK_TO_SOURCE)
                                            .setCost(Protos.duration(p.cost())).setCreatedAt(Protos.timestamp(p.createdAt())))).build());
                            return p;
                        }));
                    }
                    for (Future<StoredPiece> f : pieces) {
                        f.get();
                    }
                    task.finished = true;
                    send.accept(envelope.clone().setDownloadPeerBackToSourceFinishedRequest(
                            DownloadPeerBackToSourceFinishedRequest.getDefaultInstance()).build());
                } catch (java.util.concurrent.ExecutionException e) {
                    send.accept(envelope.clone().setDownloadPeerBackToSourceFailedRequest(
                            DownloadPeerBackToSourceFailedRequest.newBuilder().setDescription(String.valueOf(e.getCause()))).build());
                    requests.onCompleted();
                    throw new AssertionError("back-to-source download of " + url + " failed", e.getCause());
                }
            }
            default -> {
                requests.onCompleted();
                throw new AssertionError("this test peer handles no " + response.getResponseCase() + ": " + response);
            }
        }
        // The Go scheduler ends the stream after a finished message.
        // The Rust client never half-closes: it waits for the server's end. Left open here (until close()) when the
        // scheduler does not end it, so the scheduler keeps the peer as it would keep a waiting Rust peer.
        Object end = answers.poll(STREAM_END_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        if ("completed".equals(end)) {
            requests.onCompleted();
            return true;
        }
        return false;
    }

    /** One piece from the origin with a range GET, stored at its offset, its digest {@code crc32:<decimal>}. */
    private StoredPiece fetchPiece(String url, LocalTask task, int number) throws IOException, InterruptedException {
        long offset = (long) number * task.pieceLength;
        long length = Math.min(task.pieceLength, task.contentLength - offset);
        Instant created = Instant.now();
        HttpResponse<InputStream> r = http.send(HttpRequest.newBuilder(URI.create(url))
                .header("Range", "bytes=" + offset + "-" + (offset + length - 1)).GET().build(), HttpResponse.BodyHandlers.ofInputStream());
        CRC32 crc = new CRC32();
        try (InputStream in = r.body(); FileChannel f = FileChannel.open(task.file, StandardOpenOption.WRITE)) {
            if (r.statusCode() != 206 && !(r.statusCode() == 200 && offset == 0)) {
                throw new IOException("origin answered " + r.statusCode() + " for piece " + number);
            }
            byte[] buf = new byte[1 << 16];
            long at = offset;
            long left = length;
            while (left > 0) {
                int n = in.read(buf, 0, (int) Math.min(buf.length, left));
                if (n < 0) {
                    throw new IOException("origin ended piece " + number + " " + left + " bytes short");
                }
                crc.update(buf, 0, n);
                ByteBuffer bb = ByteBuffer.wrap(buf, 0, n);
                while (bb.hasRemaining()) {
                    at += f.write(bb, at);
                }
                left -= n;
            }
        }
        StoredPiece p = new StoredPiece(number, offset, length, "crc32:" + crc.getValue(), created, Instant.now());
        task.pieces.put(number, p);
        return p;
    }

    /** Forgets a task (as {@code dfdaemon_download.rs delete_task} does locally); the scheduler is not told. */
    public void deleteTask(String taskId) {
        LocalTask t = tasks.remove(taskId);
        if (t != null) {
            try {
                Files.deleteIfExists(t.file);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    // ---- DfdaemonUpload (dfdaemon_upload.rs) ----

    private final class Upload extends DfdaemonUploadGrpc.DfdaemonUploadImplBase {
        /** {@code stat_task}: the scheduler's view of the task, not local storage. */
        @Override
        public void statTask(StatTaskRequest request, StreamObserver<Task> response) {
            statTaskCalls.incrementAndGet();
            try {
                Task t = SchedulerGrpc.newBlockingStub(schedulerChannel).withDeadlineAfter(10, TimeUnit.SECONDS)
                        .statTask(dev.pollen.proto.scheduler.v2.StatTaskRequest.newBuilder()
                                .setHostId(hostId()).setTaskId(request.getTaskId()).build());
                response.onNext(t);
                response.onCompleted();
            } catch (StatusRuntimeException e) {
                // TonicStatus is #[error(transparent)]: its Display, mapped by hand to Status::internal.
                response.onError(Status.INTERNAL.withDescription("status: " + goCode(e.getStatus().getCode())
                        + ", message: \"" + e.getStatus().getDescription() + "\", details: [], metadata: MetadataMap { headers: {} }")
                        .asRuntimeException());
            }
        }

        /** {@code sync_pieces}: the stream at once, then every finished interested piece, polling. */
        @Override
        public void syncPieces(SyncPiecesRequest request, StreamObserver<SyncPiecesResponse> response) {
            syncPiecesCalls.incrementAndGet();
            ServerCallStreamObserver<SyncPiecesResponse> call = (ServerCallStreamObserver<SyncPiecesResponse>) response;
            workers.submit(() -> {
                LocalTask task = tasks.get(request.getTaskId());
                if (task == null) {
                    response.onError(Status.INTERNAL.withDescription("task " + request.getTaskId() + " not found").asRuntimeException());
                    return;
                }
                boolean finishedAtStart = task.finished;
                Set<Integer> remaining = new LinkedHashSet<>(request.getInterestedPieceNumbersList());
                while (!call.isCancelled()) {
                    for (var it = remaining.iterator(); it.hasNext(); ) {
                        StoredPiece p = task.pieces.get(it.next());
                        if (p != null) {
                            response.onNext(SyncPiecesResponse.newBuilder().setNumber(p.number()).setOffset(p.offset())
                                    .setLength(p.length()).setIp(ip).setTcpPort(vortexPort()).build());
                            it.remove();
                        }
                    }
                    if (finishedAtStart || remaining.isEmpty()) {
                        response.onCompleted();
                        return;
                    }
                    try {
                        Thread.sleep(SYNC_PIECES_POLL);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
        }

        /** {@code sync_host}: a Host with network figures about once a second, until the child goes. */
        @Override
        public void syncHost(SyncHostRequest request, StreamObserver<Host> response) {
            ServerCallStreamObserver<Host> call = (ServerCallStreamObserver<Host>) response;
            workers.submit(() -> {
                while (!call.isCancelled()) {
                    response.onNext(Host.newBuilder().setNetwork(Network.newBuilder()
                            .setMaxRxBandwidth(10_000_000_000L).setRxBandwidth(0)
                            .setMaxTxBandwidth(10_000_000_000L).setTxBandwidth(0)).build());
                    try {
                        Thread.sleep(1000);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
        }
    }

    /** tonic's {@code Code} Debug names. */
    private static String goCode(Status.Code code) {
        StringBuilder b = new StringBuilder();
        for (String part : code.name().split("_")) {
            b.append(part.charAt(0)).append(part.substring(1).toLowerCase(java.util.Locale.ROOT));
        }
        return b.toString();
    }

    // ---- Vortex (server/tcp.rs) ----

    private java.net.SocketAddress uncheckedLocalAddress() {
        try {
            return vortex.getLocalAddress();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void acceptVortex() {
        while (vortex.isOpen()) {
            try {
                SocketChannel c = vortex.accept();
                workers.submit(() -> serveOne(c));
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    /** {@code handle}: one header, one answer, then the connection is dropped. */
    private void serveOne(SocketChannel c) {
        try (c) {
            DataInputStream in = new DataInputStream(Channels.newInputStream(c));
            in.readUnsignedByte(); // id
            int tag = in.readUnsignedByte();
            long length = Integer.toUnsignedLong(in.readInt());
            if (tag != DOWNLOAD_PIECE || length != 68) {
                return; // Unsupported: closed with no reply
            }
            byte[] id = in.readNBytes(64);
            int number = in.readInt();
            String taskId = new String(id, StandardCharsets.US_ASCII);
            LocalTask task = tasks.get(taskId);
            StoredPiece piece = task == null ? null : task.pieces.get(number);
            if (piece == null) {
                vortexNotFound.incrementAndGet();
                byte[] msg = ("piece " + taskId + "-" + number + " not found").getBytes(StandardCharsets.UTF_8);
                ByteBuffer b = ByteBuffer.allocate(6 + 1 + msg.length);
                b.put((byte) ThreadLocalRandom.current().nextInt(256)).put((byte) ERROR).putInt(1 + msg.length)
                        .put((byte) NOT_FOUND).put(msg).flip();
                writeAll(c, b);
                return;
            }
            writeAll(c, pieceContentHeader(piece));
            try (FileChannel f = FileChannel.open(task.file, StandardOpenOption.READ)) {
                long sent = 0;
                while (sent < piece.length()) {
                    sent += f.transferTo(piece.offset() + sent, piece.length() - sent, c);
                }
            }
            vortexServed.incrementAndGet();
        } catch (IOException e) {
            // the child went away mid-answer: nothing to do, as upstream only logs it
        }
    }

    /**
     * {@code PieceContent::new(number, offset, length, digest, parent_id "" , RemotePeer, cost secs, created_at secs)}
     * behind a header whose length counts the metadata only.
     */
    private static ByteBuffer pieceContentHeader(StoredPiece p) {
        byte[] digest = p.digest().getBytes(StandardCharsets.UTF_8);
        byte[] parent = new byte[0];
        int metadata = 4 + 8 + 8 + 4 + digest.length + 4 + parent.length + 1 + 8 + 8;
        ByteBuffer b = ByteBuffer.allocate(6 + 4 + metadata);
        b.put((byte) ThreadLocalRandom.current().nextInt(256)).put((byte) PIECE_CONTENT).putInt(4 + metadata);
        b.putInt(metadata);
        b.putInt(p.number()).putLong(p.offset()).putLong(p.length());
        b.putInt(digest.length).put(digest);
        b.putInt(parent.length).put(parent);
        b.put((byte) TrafficType.REMOTE_PEER_VALUE);
        b.putLong(p.cost().getSeconds());
        b.putLong(p.createdAt().getEpochSecond());
        return b.flip();
    }

    private static void writeAll(SocketChannel c, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            c.write(b);
        }
    }

    @Override
    public void close() {
        upload.shutdownNow();
        try {
            vortex.close();
        } catch (IOException e) {
            // closing
        }
        workers.shutdownNow();
        schedulerChannel.shutdownNow();
        try {
            upload.awaitTermination(10, TimeUnit.SECONDS);
            schedulerChannel.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
