package dev.pollen.agent.mirror;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** A client on a raw socket, for what an HTTP library will not send (hop-by-hop fields, huge headers, trickles). */
final class RawClient implements AutoCloseable {
    private final Socket socket;
    private final InputStream in;

    /** A response's status line and headers (and its body, when read whole). */
    record Reply(int status, List<String[]> headers, byte[] body) {
        List<String> header(String name) {
            return headers.stream().filter(h -> h[0].equalsIgnoreCase(name)).map(h -> h[1]).toList();
        }
    }

    RawClient(int port) throws IOException {
        socket = new Socket("127.0.0.1", port);
        socket.setSoTimeout(10_000);
        in = socket.getInputStream();
    }

    void send(String text) throws IOException {
        socket.getOutputStream().write(text.getBytes(StandardCharsets.ISO_8859_1));
        socket.getOutputStream().flush();
    }

    void send(byte[] bytes) throws IOException {
        socket.getOutputStream().write(bytes);
        socket.getOutputStream().flush();
    }

    InputStream input() {
        return in;
    }

    Reply replyHead() throws IOException {
        String status = line();
        List<String[]> headers = new ArrayList<>();
        for (String l; !(l = line()).isEmpty(); ) {
            int colon = l.indexOf(':');
            headers.add(new String[] {l.substring(0, colon).trim(), l.substring(colon + 1).trim()});
        }
        return new Reply(Integer.parseInt(status.split(" ")[1]), headers, null);
    }

    /** A whole response whose body has a Content-Length. */
    Reply reply() throws IOException {
        Reply head = replyHead();
        int length = head.header("Content-Length").stream().findFirst().map(Integer::parseInt).orElse(0);
        return new Reply(head.status(), head.headers(), readBody(length));
    }

    byte[] readBody(int length) throws IOException {
        return in.readNBytes(length);
    }

    private String line() throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (int c; (c = in.read()) != '\n'; ) {
            if (c < 0) {
                throw new IOException("connection closed mid-line");
            }
            if (c != '\r') {
                b.write(c);
            }
        }
        return b.toString(StandardCharsets.ISO_8859_1);
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
