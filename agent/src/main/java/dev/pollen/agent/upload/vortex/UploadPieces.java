package dev.pollen.agent.upload.vortex;

import dev.pollen.agent.vortex.VortexException;

/**
 * Where the Vortex server finds pieces it may send. Only a piece that is recorded — on disk with its
 * digest checked — may ever be leased; the server never names a file itself, so no request can reach
 * one. The daemon backs this with the task manager, which keeps tasks open; {@link StoragePieces} reads
 * the store directly.
 */
public interface UploadPieces {
    /**
     * Leases recorded piece {@code number} of task {@code taskId} (a validated 64-hex id) for one send.
     * Runs on a lookup thread, never on an event loop, so it may block briefly.
     *
     * @throws VortexException {@code TASK_NOT_FOUND}, {@code PIECE_NOT_FOUND} (both as {@link #notFound}) or
     *     {@code INTERNAL}
     */
    PieceLease lease(String taskId, int number) throws VortexException;

    /** Piece {@code number} of task {@code taskId} went out whole to a child. Runs on an event loop: it must not block. */
    default void sent(String taskId, int number) {
    }

    /**
     * A piece this node cannot send, whether its task or only the piece is missing, in the words of Dragonfly's
     * storage server (dragonflyoss/client {@code dragonfly-client-storage/src/server/tcp.rs}: code NotFound,
     * {@code "piece {task_id}-{number} not found"}).
     */
    static VortexException notFound(VortexException.Reason reason, String taskId, int number) {
        return new VortexException(reason, "piece " + taskId + "-" + Integer.toUnsignedString(number) + " not found");
    }
}
