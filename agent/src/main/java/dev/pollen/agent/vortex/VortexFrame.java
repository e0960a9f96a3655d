package dev.pollen.agent.vortex;

import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

/**
 * One decoded Vortex frame (its header and value). Piece bytes are not part of a frame: they follow a
 * {@link PieceContent} on the wire and are handed on as {@link ContentSlice}s.
 */
public sealed interface VortexFrame {
    /** The packet identifier: random per packet upstream, and matched by no one. */
    int id();

    VortexTag tag();

    /** A fresh packet identifier, as upstream's {@code rng.gen()}. */
    static int newId() {
        return ThreadLocalRandom.current().nextInt(256);
    }

    /** Tag 0: "send me piece {@code number} of task {@code taskId}". The task id is not validated here. */
    record DownloadPiece(int id, String taskId, long number) implements VortexFrame {
        public DownloadPiece {
            checkId(id);
            Objects.requireNonNull(taskId, "taskId");
            if (number < 0 || number > 0xFFFF_FFFFL) {
                throw new IllegalArgumentException("piece number " + number + " (expected: 0..4294967295)");
            }
        }

        public static DownloadPiece of(String taskId, int number) {
            return new DownloadPiece(newId(), taskId, number);
        }

        @Override
        public VortexTag tag() {
            return VortexTag.DOWNLOAD_PIECE;
        }
    }

    /**
     * Tag 1: the metadata of the piece whose {@code length} raw bytes follow.
     *
     * @param trafficType {@code common.v2.TrafficType} of the sender's copy
     * @param cost how long the sender took to get the piece, in whole seconds on the wire
     * @param createdAt when the frame was made, in whole seconds on the wire
     */
    record PieceContent(int id, long number, long offset, long length, String digest, String parentId, int trafficType,
                        Duration cost, Instant createdAt) implements VortexFrame {
        public PieceContent {
            checkId(id);
            Objects.requireNonNull(digest, "digest");
            Objects.requireNonNull(parentId, "parentId");
            Objects.requireNonNull(cost, "cost");
            Objects.requireNonNull(createdAt, "createdAt");
            if (number < 0 || number > 0xFFFF_FFFFL || offset < 0 || length < 0 || trafficType < 0 || trafficType > 255
                    || cost.isNegative()) {
                throw new IllegalArgumentException("invalid piece content: number=" + number + " offset=" + offset
                        + " length=" + length + " trafficType=" + trafficType + " cost=" + cost);
            }
        }

        @Override
        public VortexTag tag() {
            return VortexTag.PIECE_CONTENT;
        }
    }

    /** Tag 254: the sender is done with the connection. */
    record Close(int id) implements VortexFrame {
        public Close {
            checkId(id);
        }

        public static Close of() {
            return new Close(newId());
        }

        @Override
        public VortexTag tag() {
            return VortexTag.CLOSE;
        }
    }

    /** Tag 255: a refusal. {@code code} is the raw byte so reserved codes from newer peers survive. */
    record ErrorFrame(int id, int code, String message) implements VortexFrame {
        public ErrorFrame {
            checkId(id);
            Objects.requireNonNull(message, "message");
            if (code < 0 || code > 255) {
                throw new IllegalArgumentException("error code " + code + " (expected: 0..255)");
            }
        }

        public static ErrorFrame of(VortexErrorCode code, String message) {
            return new ErrorFrame(newId(), code.value(), message);
        }

        @Override
        public VortexTag tag() {
            return VortexTag.ERROR;
        }
    }

    private static void checkId(int id) {
        if (id < 0 || id > 255) {
            throw new IllegalArgumentException("packet id " + id + " (expected: 0..255)");
        }
    }
}
