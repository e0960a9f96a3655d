package dev.pollen.agent.vortex;

/**
 * The Vortex wire format as Dragonfly's Rust peers speak it, pinned field by field. Every size here is
 * taken from the upstream source, not from its prose documentation (which disagrees with the code in
 * places, e.g. it calls the length field "8 bytes" while the code writes a u32):
 *
 * <ul>
 *   <li>{@code dragonflyoss/vortex src/lib.rs} (crate {@code vortex-protocol}): {@code HEADER_SIZE = 6};
 *       {@code Header { id: u8, tag: u8, length: u32 }} written with {@code put_u8, put_u8, put_u32}
 *       (big-endian). The id is {@code rng.gen()}: a random byte per packet that no receiver matches on —
 *       a response does not echo its request's id, so requests on one connection are answered in order.
 *       {@code Header::new_download_piece()} fixes the length at 64 + 4; {@code new_close()} at 0.</li>
 *   <li>{@code src/tlv/mod.rs}: tags {@code DownloadPiece = 0, PieceContent = 1}, {@code Close = 254},
 *       {@code Error = 255}; later crate versions (0.1.4/0.1.5) add cache/persistent piece tags in 2..7,
 *       which Pollen does not speak and treats as unknown.</li>
 *   <li>{@code src/tlv/download_piece.rs}: {@code TASK_ID_SIZE = 64} (the task id's ASCII hex bytes),
 *       {@code PIECE_NUMBER_SIZE = 4}, value = task id bytes then {@code put_u32(piece_number)}.</li>
 *   <li>{@code src/tlv/piece_content.rs}: value = {@code metadata_length u32}, then the metadata:
 *       {@code number u32, offset u64, length u64, digest_length u32, digest (UTF-8),
 *       parent_id_length u32, parent_id (UTF-8), traffic_type u8, cost u64 (Duration::as_secs, whole
 *       seconds), created_at i64 (NaiveDateTime::and_utc().timestamp(), Unix seconds)}. The header's
 *       length is 4 + metadata_length: the piece bytes follow the value and are NOT counted in it
 *       ({@code dragonflyoss/client dragonfly-client-storage/src/server/tcp.rs} writes
 *       {@code Header::new_piece_content(piece_content_bytes.len())}, then copies the content reader;
 *       {@code src/client/tcp.rs} {@code read_piece_content} reads the 4-byte metadata length, then the
 *       metadata, then hands the raw stream on). The digest is the piece's {@code crc32:<decimal>}; the
 *       upstream server sends traffic type {@code TrafficType::RemotePeer} (1), a fixed cost of 30 s and
 *       {@code Utc::now()} as created_at.</li>
 *   <li>{@code src/tlv/error.rs}: value = {@code code u8} then the UTF-8 message, no separator (crate
 *       0.1.0 had a ':' separator; every later version and the client's use of it have none). Codes:
 *       {@code Unknown = 0, InvalidArgument = 1, NotFound = 2, Internal = 3}, 4..255 reserved. The
 *       upstream server answers a missing piece with NotFound, unreadable metadata with
 *       InvalidArgument and an unreadable content file with Internal.</li>
 *   <li>{@code src/tlv/close.rs} / {@code Header::new_close()}: tag 254 with an empty value.</li>
 * </ul>
 *
 * <p>The maxima below are Pollen's, not upstream's (upstream allows any value up to 4 GiB): a request
 * has a fixed size, and nothing else a peer says needs more than a few kilobytes before the content.
 */
public final class VortexWire {
    /** Default TCP port of the Vortex piece server (Dragonfly's {@code upload.server.tcpPort}). */
    public static final int DEFAULT_PORT = 4005;

    public static final int HEADER_SIZE = 6;
    public static final int TASK_ID_SIZE = 64;
    public static final int PIECE_NUMBER_SIZE = 4;
    /** The one legal value length of a DownloadPiece frame. */
    public static final int DOWNLOAD_PIECE_LENGTH = TASK_ID_SIZE + PIECE_NUMBER_SIZE;
    public static final int METADATA_LENGTH_SIZE = 4;
    /** number, offset, length, digest length, parent id length, traffic type, cost, created_at. */
    public static final int METADATA_FIXED_SIZE = 4 + 8 + 8 + 4 + 4 + 1 + 8 + 8;
    /** Digest and parent id are short strings; 4 KiB leaves room for any sane peer id. */
    public static final int MAX_METADATA_LENGTH = 4096;
    public static final int MIN_PIECE_CONTENT_LENGTH = METADATA_LENGTH_SIZE + METADATA_FIXED_SIZE;
    public static final int MAX_PIECE_CONTENT_LENGTH = METADATA_LENGTH_SIZE + MAX_METADATA_LENGTH;
    public static final int MIN_ERROR_LENGTH = 1;
    public static final int MAX_ERROR_LENGTH = 16 * 1024;
    /** Upper bound of one content slice handed to the file writer: the heap never holds more per read. */
    public static final int MAX_CONTENT_SLICE = 256 * 1024;

    /** {@code common.v2.TrafficType.REMOTE_PEER}: what a parent reports for bytes it uploads. */
    public static final int TRAFFIC_REMOTE_PEER = 1;

    private VortexWire() {
    }
}
