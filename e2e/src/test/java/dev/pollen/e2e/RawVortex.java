package dev.pollen.e2e;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * A Vortex client written from the wire format alone (agent {@code VortexWire}), independent of the agent's own
 * codec: one blocking connection, one piece. A header is {@code id u8, tag u8, length u32} (big-endian);
 * DownloadPiece (tag 0) carries the 64-byte task id and a {@code u32} piece number; the answer is PieceContent
 * (tag 1: {@code metadata_length u32}, then {@code number u32, offset u64, length u64, digest, parent id,
 * traffic_type u8, cost u64, created_at i64}, strings as {@code u32} length + UTF-8) followed by the piece's
 * raw bytes, or Error (tag 255: {@code code u8} + message). Close is tag 254 with no value.
 */
final class RawVortex {
    private static final int DOWNLOAD_PIECE = 0;
    private static final int PIECE_CONTENT = 1;
    private static final int CLOSE = 254;
    private static final int ERROR = 255;

    /** What a parent sent for one piece. */
    record Piece(long number, long offset, long length, String digest, byte[] content) {
    }

    private RawVortex() {
    }

    /**
     * Connects, asks for piece {@code number} of {@code taskId}, reads the answer, says Close and closes. Every
     * step is bounded by {@code timeout} (connect and each read), so a stuck server fails the call.
     */
    static Piece fetch(InetSocketAddress server, String taskId, int number, Duration timeout) throws IOException {
        try (Socket socket = new Socket()) {
            socket.connect(server, (int) timeout.toMillis());
            socket.setSoTimeout((int) timeout.toMillis());
            DataOutputStream out = new DataOutputStream(socket.getOutputStream());
            DataInputStream in = new DataInputStream(socket.getInputStream());
            byte[] id = taskId.getBytes(StandardCharsets.US_ASCII);
            if (id.length != 64) {
                throw new IllegalArgumentException("a task id has 64 characters: " + taskId);
            }
            header(out, DOWNLOAD_PIECE, id.length + 4);
            out.write(id);
            out.writeInt(number);
            out.flush();

            in.readUnsignedByte(); // packet id: random, matched by no one
            int tag = in.readUnsignedByte();
            long valueLength = Integer.toUnsignedLong(in.readInt());
            if (tag == ERROR) {
                int code = in.readUnsignedByte();
                byte[] message = in.readNBytes((int) valueLength - 1);
                throw new ErrorAnswer(code, new String(message, StandardCharsets.UTF_8));
            }
            if (tag != PIECE_CONTENT) {
                throw new IOException("unexpected vortex tag " + tag + " (expected: 1, piece content)");
            }
            long metadataLength = Integer.toUnsignedLong(in.readInt());
            if (valueLength != 4 + metadataLength) {
                throw new IOException("header length " + valueLength + " but metadata length " + metadataLength);
            }
            long pieceNumber = Integer.toUnsignedLong(in.readInt());
            long offset = in.readLong();
            long length = in.readLong();
            String digest = string(in);
            string(in); // parent id
            in.readUnsignedByte(); // traffic type
            in.readLong(); // cost
            in.readLong(); // created at
            if (length > 64L << 20) {
                throw new IOException("piece length " + length + " is more than a test piece can be");
            }
            byte[] content = in.readNBytes((int) length);
            if (content.length != length) {
                throw new IOException("connection ended after " + content.length + " of " + length + " piece bytes");
            }
            header(out, CLOSE, 0);
            out.flush();
            return new Piece(pieceNumber, offset, length, digest, content);
        }
    }

    private static void header(OutputStream out, int tag, int length) throws IOException {
        DataOutputStream data = new DataOutputStream(out);
        data.writeByte(java.util.concurrent.ThreadLocalRandom.current().nextInt(256));
        data.writeByte(tag);
        data.writeInt(length);
    }

    private static String string(DataInputStream in) throws IOException {
        int length = in.readInt();
        if (length < 0 || length > 4096) {
            throw new IOException("string length " + length + " in piece metadata");
        }
        return new String(in.readNBytes(length), StandardCharsets.UTF_8);
    }

    /** The server's Error frame: its code (4 is Pollen's "busy, try another parent") and message. */
    static final class ErrorAnswer extends IOException {
        final int code;

        ErrorAnswer(int code, String message) {
            super("vortex error " + code + ": " + message);
            this.code = code;
        }
    }
}
