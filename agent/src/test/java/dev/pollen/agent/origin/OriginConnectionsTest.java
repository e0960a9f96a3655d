package dev.pollen.agent.origin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.storage.LocalWriteException;
import dev.pollen.agent.storage.PieceWriter;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The origin transport on the wire: answers an in-process server scripts byte for byte, the cases a JDK test
 * server does not produce (an idle connection the origin closed, a body cut short of its length, a body that
 * ends at the close, an interim answer), and a large body read slowly.
 */
class OriginConnectionsTest {
    private final List<AutoCloseable> open = new CopyOnWriteArrayList<>();

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : open) {
            c.close();
        }
    }

    private OriginClient client() {
        OriginClient client = new OriginClient(0, new Backoff(Duration.ofMillis(10)), Duration.ofSeconds(2), Duration.ofSeconds(5),
                List.of(), OriginPolicy.ALLOW_ALL);
        open.add(client);
        return client;
    }

    /** A server that answers the n-th request (counted over all connections) with {@code script}'s bytes. */
    private ScriptedOrigin origin(Script script) throws IOException {
        ScriptedOrigin origin = new ScriptedOrigin(script);
        open.add(origin);
        return origin;
    }

    @Test
    void anIdleConnectionTheOriginClosedIsReplacedAndTheRequestSucceeds() throws Exception {
        // Keep-alive promised, then the origin closes each connection right after its answer (a keep-alive timeout).
        ScriptedOrigin origin = origin((n, out) -> {
            out.write(answer("HTTP/1.1 206 Partial Content", "Content-Range: bytes 0-0/10", "Content-Length: 1", "x"));
            return false;
        });
        OriginClient client = client();
        URI uri = origin.uri("/f");
        assertThat(read(client.probeOnce(uri, Map.of()))).containsExactly('x');
        origin.awaitClosed(1);
        // One attempt only (probeOnce): the pooled connection is found dead when used, and a fresh one carries it.
        assertThat(read(client.probeOnce(uri, Map.of()))).containsExactly('x');
        assertThat(origin.requests()).isEqualTo(2);
        assertThat(origin.connections()).isEqualTo(2);
    }

    @Test
    void connectionsTheOriginKeepsAreReused() throws Exception {
        ScriptedOrigin origin = origin((n, out) -> {
            out.write(answer("HTTP/1.1 206 Partial Content", "Content-Range: bytes 0-2/3", "Content-Length: 3", "abc"));
            return true;
        });
        OriginClient client = client();
        for (int i = 0; i < 5; i++) {
            assertThat(new String(read(client.range(origin.uri("/f"), Map.of(), 0, 2)), StandardCharsets.US_ASCII)).isEqualTo("abc");
        }
        assertThat(origin.connections()).isEqualTo(1);
    }

    @Test
    void aBodyCutShortOfItsLengthIsAnErrorNotAShortBody() throws Exception {
        ScriptedOrigin origin = origin((n, out) -> {
            out.write(answer("HTTP/1.1 206 Partial Content", "Content-Range: bytes 0-999/1000", "Content-Length: 1000",
                    "a".repeat(500)));
            return false;
        });
        OriginClient client = client();
        URI uri = origin.uri("/f");
        assertThatThrownBy(() -> client.withRetries(uri, () -> read(client.range(uri, Map.of(), 0, 999))))
                .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.ORIGIN_UNREACHABLE))
                .hasMessageContaining(uri.toString()).hasMessageContaining("closed the connection");
    }

    @Test
    void aBodyWithoutALengthEndsWhereTheOriginClosesTheConnection() throws Exception {
        String body = "b".repeat(300_000);
        ScriptedOrigin origin = origin((n, out) -> {
            out.write(answer("HTTP/1.1 200 OK", "Connection: close", body));
            return false;
        });
        OriginResponse response = client().whole(origin.uri("/f"), Map.of());
        assertThat(response.totalLength()).isEqualTo(-1);
        assertThat(new String(read(response), StandardCharsets.US_ASCII)).isEqualTo(body);
    }

    @Test
    void anInterimAnswerIsSkippedForTheFinalOne() throws Exception {
        ScriptedOrigin origin = origin((n, out) -> {
            out.write("HTTP/1.1 100 Continue\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            out.write(answer("HTTP/1.1 200 OK", "Content-Length: 2", "ok"));
            return true;
        });
        assertThat(new String(read(client().whole(origin.uri("/f"), Map.of())), StandardCharsets.US_ASCII)).isEqualTo("ok");
    }

    @Test
    void aLargeBodyReadSlowlyArrivesWhole() throws Exception {
        // 12 MiB: far past what the client queues before it stops reading the socket, so reading resumes many times.
        byte[] body = new byte[12 << 20];
        new Random(7).nextBytes(body);
        try (TestOrigin origin = new TestOrigin()) {
            origin.serve("/big", body);
            OriginResponse response = client().range(URI.create(origin.url("/big")), Map.of(), 0, body.length - 1);
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            try (InputStream in = response.body()) {
                byte[] chunk = new byte[100_000];
                for (int n, reads = 0; (n = in.read(chunk)) >= 0; reads++) {
                    got.write(chunk, 0, n);
                    if (reads % 10 == 0) {
                        Thread.sleep(5); // a reader slower than loopback: the client must hold the origin back, not drop bytes
                    }
                }
            }
            assertThat(got.toByteArray()).isEqualTo(body);
        }
    }

    @Test
    void aBodyWrittenFromItsOwnBuffersLandsWholeAndItsConnectionIsReused() throws Exception {
        byte[] body = new byte[5 << 20];
        new Random(11).nextBytes(body);
        ScriptedOrigin origin = wholeRangeOrigin(body);
        OriginClient client = client();
        Path file = Files.createTempFile("origin-body", ".bin");
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.READ)) {
            for (int round = 0; round < 2; round++) {
                try (InputStream in = client.range(origin.uri("/f"), Map.of(), 0, body.length - 1).body()) {
                    // Two pieces whose boundary falls inside a socket read: the first takes part of a buffer.
                    int first = (2 << 20) + 123;
                    PieceWriter.Written a = PieceWriter.writeExactly(in, out, 0, first);
                    PieceWriter.Written b = PieceWriter.writeUpTo(in, out, first, body.length);
                    assertThat(a.crc32()).isEqualTo(crc(body, 0, first));
                    assertThat(b.length()).isEqualTo(body.length - first);
                    assertThat(b.crc32()).isEqualTo(crc(body, first, body.length - first));
                    assertThat(in.read()).isEqualTo(-1);
                }
                assertThat(Files.readAllBytes(file)).isEqualTo(body);
                Files.write(file, new byte[0], StandardOpenOption.TRUNCATE_EXISTING);
            }
        } finally {
            Files.delete(file);
        }
        // Read to its end, the body gave its connection back: the second request went on the same one.
        assertThat(origin.connections()).isEqualTo(1);
    }

    @Test
    void aFailedWriteFromTheBodysBuffersIsALocalFailureAndTheConnectionIsNotReused() throws Exception {
        byte[] body = new byte[1 << 20];
        ScriptedOrigin origin = wholeRangeOrigin(body);
        OriginClient client = client();
        Path file = Files.createTempFile("origin-body", ".bin");
        FileChannel closed = FileChannel.open(file, StandardOpenOption.WRITE);
        closed.close();
        try (InputStream in = client.range(origin.uri("/f"), Map.of(), 0, body.length - 1).body()) {
            assertThatThrownBy(() -> PieceWriter.writeExactly(in, closed, 0, body.length)).isInstanceOf(LocalWriteException.class);
        } finally {
            Files.delete(file);
        }
        // The body was closed before its end: its connection is closed, and the next request opens another.
        assertThat(read(client.range(origin.uri("/f"), Map.of(), 0, body.length - 1))).hasSize(body.length);
        assertThat(origin.connections()).isEqualTo(2);
    }

    /** A keep-alive origin that answers every request with all of {@code body} as a 206. */
    private ScriptedOrigin wholeRangeOrigin(byte[] body) throws IOException {
        return origin((n, out) -> {
            out.write(answer("HTTP/1.1 206 Partial Content", "Content-Range: bytes 0-" + (body.length - 1) + "/" + body.length,
                    "Content-Length: " + body.length, ""));
            out.write(body);
            return true;
        });
    }

    private static long crc(byte[] bytes, int offset, int length) {
        CRC32 crc = new CRC32();
        crc.update(bytes, offset, length);
        return crc.getValue();
    }

    @Test
    void aMalformedAnswerIsAClearError() throws Exception {
        ScriptedOrigin origin = origin((n, out) -> {
            out.write("SSH-2.0-OpenSSH_9.2\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            return true;
        });
        OriginClient client = client();
        URI uri = origin.uri("/f");
        assertThatThrownBy(() -> client.withRetries(uri, () -> read(client.whole(uri, Map.of()))))
                .isInstanceOf(PollenException.class).hasMessageContaining(uri.toString());
    }

    private static byte[] answer(String status, String... headersThenBody) {
        StringBuilder s = new StringBuilder(status).append("\r\n");
        for (int i = 0; i < headersThenBody.length - 1; i++) {
            s.append(headersThenBody[i]).append("\r\n");
        }
        s.append("\r\n").append(headersThenBody[headersThenBody.length - 1]);
        return s.toString().getBytes(StandardCharsets.US_ASCII);
    }

    private static byte[] read(OriginResponse response) throws IOException {
        try (InputStream in = response.body()) {
            return in.readAllBytes();
        }
    }

    /** Writes the answer to request {@code n}; returns whether the connection stays open for another request. */
    @FunctionalInterface
    interface Script {
        boolean answer(int n, OutputStream out) throws IOException;
    }

    private static final class ScriptedOrigin implements AutoCloseable {
        private final ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        private final AtomicInteger requests = new AtomicInteger();
        private final AtomicInteger connections = new AtomicInteger();
        private final AtomicInteger closed = new AtomicInteger();
        private final Script script;

        ScriptedOrigin(Script script) throws IOException {
            this.script = script;
            Thread.ofVirtual().start(this::accept);
        }

        URI uri(String path) {
            return URI.create("http://127.0.0.1:" + server.getLocalPort() + path);
        }

        int requests() {
            return requests.get();
        }

        int connections() {
            return connections.get();
        }

        void awaitClosed(int count) {
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5)).until(() -> closed.get() >= count);
        }

        private void accept() {
            while (!server.isClosed()) {
                try {
                    Socket socket = server.accept();
                    connections.incrementAndGet();
                    Thread.ofVirtual().start(() -> serve(socket));
                } catch (IOException e) {
                    return;
                }
            }
        }

        private void serve(Socket socket) {
            try (socket) {
                InputStream in = socket.getInputStream();
                OutputStream out = socket.getOutputStream();
                while (readRequest(in)) {
                    boolean keep = script.answer(requests.getAndIncrement(), out);
                    out.flush();
                    if (!keep) {
                        break;
                    }
                }
            } catch (IOException e) {
                // the client went away
            } finally {
                closed.incrementAndGet();
            }
        }

        /** Reads one request's head; false at the end of the stream. */
        private static boolean readRequest(InputStream in) throws IOException {
            int matched = 0;
            for (int b; (b = in.read()) >= 0; ) {
                matched = (b == '\r' && matched % 2 == 0) || (b == '\n' && matched % 2 == 1) ? matched + 1 : 0;
                if (matched == 4) {
                    return true;
                }
            }
            return false;
        }

        @Override
        public void close() throws IOException {
            server.close();
        }
    }
}
