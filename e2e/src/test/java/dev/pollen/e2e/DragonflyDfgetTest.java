package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.e2e.TestFiles.TestFile;
import dev.pollen.e2e.dragonfly.DragonflyDfget;
import io.grpc.Status;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Dragonfly's Rust dfget against Pollen's daemon: {@link DragonflyDfget} calls the Unix socket as
 * dragonflyoss/client @ff17c0b7 {@code dragonfly-client/src/bin/dfget/main.rs download} does and reads errors as
 * its {@code main} does. Users keep their dfget binaries, so Pollen's daemon must answer in the form they
 * understand: piece content when asked ({@code need_piece_content}), and origin errors as JSON
 * {@code errordetails.v2.Backend} details ({@code dfdaemon_download.rs download_task},
 * {@code Status::with_details(Code::Internal, .., serde_json::to_vec::<Backend>(..))}).
 */
class DragonflyDfgetTest {
    @RegisterExtension
    static final Nginx origin = new Nginx().location(Nginx.status("/missing/", 404));

    @RegisterExtension
    static final Daemons daemons = new Daemons();

    private static DaemonProcess daemon;
    private static DragonflyDfget dfget;

    @TempDir
    Path out;

    @BeforeAll
    static void start() {
        daemon = daemons.start();
        dfget = new DragonflyDfget(daemon.socket());
    }

    @AfterAll
    static void stop() {
        dfget.close();
    }

    /** {@code --transfer-from-dfdaemon}: the bytes travel in the pieces' {@code content}. */
    @Test
    void transferModeWritesThePieceContentItIsSent() {
        TestFile file = origin.createFile("transfer.bin", 20 * MiB + 123, 111);

        DragonflyDfget.Outcome outcome = dfget.transfer(origin.url("/transfer.bin"), out.resolve("transfer.bin"));

        assertThat(outcome.ok()).as(outcome + "\n" + daemon).isTrue();
        assertThat(TestFiles.sha256(out.resolve("transfer.bin"))).isEqualTo(file.sha256());
    }

    /** Default mode: the daemon writes {@code output_path}; dfget only follows the pieces. */
    @Test
    void defaultModeHasTheDaemonWriteTheOutput() {
        TestFile file = origin.createFile("default.bin", 12 * MiB, 112);

        DragonflyDfget.Outcome outcome = dfget.download(origin.url("/default.bin"), out.resolve("default.bin"));

        assertThat(outcome.ok()).as(outcome + "\n" + daemon).isTrue();
        assertThat(TestFiles.sha256(out.resolve("default.bin"))).isEqualTo(file.sha256());
    }

    /** An origin 404 reaches dfget as Backend JSON it decodes: "Bad Status Code: 404". */
    @Test
    void anOrigin404IsABackendErrorDfgetDecodes() {
        for (boolean transfer : new boolean[] {false, true}) {
            DragonflyDfget.Outcome outcome = dfget.run(origin.url("/missing/none.bin"), out.resolve("none-" + transfer + ".bin"),
                    transfer, d -> d);

            assertThat(outcome.crashed()).as("dfget panics on non-UTF-8 details: " + outcome).isFalse();
            assertThat(outcome.ok()).as(outcome.toString()).isFalse();
            assertThat(outcome.backend()).as("Backend decoded by serde_json (transfer=" + transfer + "): " + outcome).isNotNull();
            assertThat(outcome.backend().statusCode()).as(outcome.toString()).isEqualTo(404);
            assertThat(outcome.printed()).as(outcome.toString()).contains("Bad Status Code: 404");
        }
    }

    /** Values dfget itself would refuse, sent by a raw client: a clear error, and the daemon goes on serving. */
    @Test
    void absurdValuesGetAClearErrorAndTheDaemonKeepsServing() {
        TestFile file = origin.createFile("after-absurd.bin", 5 * MiB, 113);
        DragonflyDfget.Outcome tinyPieces = dfget.run(origin.url("/after-absurd.bin"), out.resolve("tiny.bin"), true,
                d -> d.setPieceLength(1));
        DragonflyDfget.Outcome badUrl = dfget.run("no-scheme at all", out.resolve("bad.bin"), true, d -> d);
        DragonflyDfget.Outcome hugeConcurrency = dfget.run(origin.url("/after-absurd.bin"), out.resolve("huge.bin"), true,
                d -> d.setConcurrentPieceCount(Integer.MAX_VALUE).setActualContentLength(Long.MAX_VALUE));

        for (DragonflyDfget.Outcome o : new DragonflyDfget.Outcome[] {tinyPieces, badUrl}) {
            assertThat(o.ok()).as(o.toString()).isFalse();
            assertThat(o.crashed()).as(o.toString()).isFalse();
            assertThat(o.status()).as(o.toString()).isNotNull();
            assertThat(o.status().getCode()).as(o.toString()).isIn(Status.Code.INVALID_ARGUMENT, Status.Code.FAILED_PRECONDITION);
            assertThat(o.status().getDescription()).as(o.toString()).isNotBlank();
        }
        assertThat(hugeConcurrency.crashed()).as(hugeConcurrency.toString()).isFalse();

        DragonflyDfget.Outcome after = dfget.transfer(origin.url("/after-absurd.bin"), out.resolve("after.bin"));
        assertThat(after.ok()).as(after + "\n" + daemon).isTrue();
        assertThat(TestFiles.sha256(out.resolve("after.bin"))).isEqualTo(file.sha256());
    }
}
