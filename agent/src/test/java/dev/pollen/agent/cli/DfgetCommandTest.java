package dev.pollen.agent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.GrpcErrors;
import dev.pollen.agent.error.PollenException;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.proto.dfdaemon.v2.DfdaemonDownloadGrpc;
import dev.pollen.proto.dfdaemon.v2.DownloadPieceFinishedResponse;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskRequest;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskResponse;
import dev.pollen.proto.dfdaemon.v2.DownloadTaskStartedResponse;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** dfget against a fake daemon on a Unix socket: what it says and how it exits when the daemon misbehaves. */
class DfgetCommandTest {
    @TempDir
    Path dir;

    private final ByteArrayOutputStream stderr = new ByteArrayOutputStream();
    private EventLoopGroup boss;
    private EventLoopGroup workers;
    private Server server;

    @AfterEach
    void stopDaemon() throws InterruptedException {
        if (server != null) {
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            boss.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            workers.shutdownGracefully(0, 0, TimeUnit.SECONDS);
        }
    }

    @Test
    void aDaemonThatDiesMidDownloadIsNamedAndTheRerunAdvised() throws Exception {
        CountDownLatch midway = new CountDownLatch(1);
        startDaemon((request, responses) -> {
            responses.onNext(started());
            responses.onNext(piece());
            midway.countDown();
            // never finishes: the daemon dies first
        });
        CompletableFuture<Integer> exit = CompletableFuture.supplyAsync(() -> dfget());
        assertThat(midway.await(10, TimeUnit.SECONDS)).isTrue();

        // As a kill -9 would: the connection closes under the call, without a word from the daemon.
        workers.shutdownGracefully(0, 0, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);

        assertThat(exit.get(10, TimeUnit.SECONDS)).isEqualTo(3);
        assertThat(stderr()).contains("dfget: the daemon at " + socket() + " closed the connection mid-download"
                + " (it stopped or restarted); running the same command again resumes");
    }

    @Test
    void aDaemonThatGoesQuietIsGivenUpAfterTheStallTimeout() throws Exception {
        startDaemon((request, responses) -> responses.onNext(started()));
        long start = System.nanoTime();

        int exit = dfget("--stall-timeout=300ms");

        assertThat(exit).isEqualTo(ErrorCode.TIMEOUT.exitCode());
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
        assertThat(stderr()).contains("dfget: the daemon at " + socket() + " reported no progress for 300ms;"
                + " the download is stalled");
    }

    @Test
    void theStallTimeoutHasADefault() {
        DfgetCommand command = new DfgetCommand();
        new CommandLine(command).parseArgs("http://origin/f", "-O", "f");

        assertThat(command.stallTimeout).isEqualTo(DfgetCommand.DEFAULT_STALL_TIMEOUT);
    }

    @Test
    void theDaemonsOwnUnavailableKeepsItsExitCode() throws Exception {
        startDaemon((request, responses) -> {
            Metadata trailers = new Metadata();
            trailers.put(Metadata.Key.of(ErrorCode.TRAILER, Metadata.ASCII_STRING_MARSHALLER), ErrorCode.ORIGIN_UNREACHABLE.name());
            responses.onError(Status.UNAVAILABLE.withDescription("origin http://origin/f unreachable").asRuntimeException(trailers));
        });

        int exit = dfget();

        assertThat(exit).isEqualTo(4);
        assertThat(stderr()).contains("dfget: origin http://origin/f unreachable");
    }

    @Test
    void theDaemonsErrorsInDragonflysFormKeepTheirExitCodesAndMessages() throws Exception {
        // What the daemon sends (GrpcErrors): origin statuses now carry Backend JSON details, which dfget ignores.
        java.util.concurrent.atomic.AtomicReference<PollenException> next = new java.util.concurrent.atomic.AtomicReference<>();
        startDaemon((request, responses) -> responses.onError(GrpcErrors.toStatus(next.get())));
        Map<PollenException, Integer> expected = new java.util.LinkedHashMap<>();
        expected.put(new PollenException(ErrorCode.ORIGIN_NOT_FOUND, "origin answered 404 for http://origin/f", 404, null), 4);
        expected.put(new PollenException(ErrorCode.ORIGIN_DENIED, "origin answered 403 for http://origin/f", 403, null), 4);
        expected.put(new PollenException(ErrorCode.ORIGIN_STATUS, "origin answered 500 for http://origin/f", 500, null), 4);
        expected.put(new PollenException(ErrorCode.INVALID_ARGUMENT, "invalid range"), 2);
        expected.put(new PollenException(ErrorCode.DIGEST_MISMATCH, "digest mismatch"), 5);
        expected.put(new PollenException(ErrorCode.TIMEOUT, "did not finish"), 6);
        expected.put(new PollenException(ErrorCode.OUTPUT_EXISTS, "output exists"), 7);
        expected.put(new PollenException(ErrorCode.NO_SPACE, "no space"), 8);
        expected.put(new PollenException(ErrorCode.BACK_TO_SOURCE_DISABLED, "no peer has it"), 9);
        expected.put(new PollenException(ErrorCode.INTERNAL, "internal"), 1);

        expected.forEach((error, exit) -> {
            next.set(error);
            stderr.reset();

            assertThat(dfget()).as(error.code().name()).isEqualTo(exit);
            assertThat(stderr()).contains("dfget: " + error.getMessage());
        });
    }

    @Test
    void noDaemonAtTheSocketIsCannotConnect() {
        int exit = dfget();

        assertThat(exit).isEqualTo(3);
        assertThat(stderr()).contains("cannot connect to dfdaemon at " + socket());
    }

    private int dfget(String... more) {
        String[] args = new String[5 + more.length];
        args[0] = "http://origin/f";
        args[1] = "-O";
        args[2] = dir.resolve("out").toString();
        args[3] = "-e";
        args[4] = socket().toString();
        System.arraycopy(more, 0, args, 5, more.length);
        return new CommandLine(new DfgetCommand(new PrintStream(stderr, true, StandardCharsets.UTF_8))).execute(args);
    }

    private String stderr() {
        return stderr.toString(StandardCharsets.UTF_8);
    }

    private Path socket() {
        return dir.resolve("dfdaemon.sock");
    }

    private void startDaemon(BiConsumer<DownloadTaskRequest, StreamObserver<DownloadTaskResponse>> handler) throws IOException {
        boss = new EpollEventLoopGroup(1, new DefaultThreadFactory("fake-boss", true));
        workers = new EpollEventLoopGroup(1, new DefaultThreadFactory("fake-io", true));
        server = NettyServerBuilder.forAddress(new DomainSocketAddress(socket().toFile()))
                .channelType(EpollServerDomainSocketChannel.class)
                .bossEventLoopGroup(boss)
                .workerEventLoopGroup(workers)
                .addService(new DfdaemonDownloadGrpc.DfdaemonDownloadImplBase() {
                    @Override
                    public void downloadTask(DownloadTaskRequest request, StreamObserver<DownloadTaskResponse> responses) {
                        handler.accept(request, responses);
                    }
                })
                .build()
                .start();
    }

    private static DownloadTaskResponse started() {
        return DownloadTaskResponse.newBuilder()
                .setDownloadTaskStartedResponse(DownloadTaskStartedResponse.newBuilder().setContentLength(8 << 20))
                .build();
    }

    private static DownloadTaskResponse piece() {
        return DownloadTaskResponse.newBuilder()
                .setDownloadPieceFinishedResponse(DownloadPieceFinishedResponse.newBuilder()
                        .setPiece(Piece.newBuilder().setNumber(0).setLength(4 << 20)))
                .build();
    }
}
