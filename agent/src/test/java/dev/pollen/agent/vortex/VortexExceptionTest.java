package dev.pollen.agent.vortex;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.agent.vortex.VortexException.Reason;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;

/** What a child makes of a parent's Error frame: busy (Pollen's reserved code 4) apart from every failure. */
class VortexExceptionTest {
    @Test
    void code4IsBusyAndEveryOtherCodeARemoteError() {
        VortexException busy = VortexException.remote(new VortexFrame.ErrorFrame(7, 4, "busy: all 3 upload slots in use"), "p");
        assertThat(busy.reason()).isEqualTo(Reason.BUSY);
        assertThat(busy.isBusy()).isTrue();
        assertThat(busy.remoteCode()).isEqualTo(4);
        assertThat(busy.reason().closesConnection()).as("a busy parent's connection stays usable").isFalse();
        assertThat(busy.getMessage()).contains("BUSY");

        for (int code : new int[] {0, 1, 2, 3, 5, 255}) {
            VortexException other = VortexException.remote(new VortexFrame.ErrorFrame(7, code, "x"), "p");
            assertThat(other.reason()).isEqualTo(Reason.REMOTE_ERROR);
            assertThat(other.isBusy()).isFalse();
            assertThat(other.remoteCode()).isEqualTo(code);
        }
    }

    @Test
    void aServerSaysBusyWithCode4OnTheWire() {
        assertThat(Reason.BUSY.wireCode()).isEqualTo(VortexErrorCode.BUSY);
        assertThat(VortexErrorCode.of(4)).isEqualTo(VortexErrorCode.BUSY);
        assertThat(VortexErrorCode.of(5)).as("still reserved").isNull();

        ByteBuf wire = Unpooled.buffer();
        VortexEncoder.encode(VortexFrame.ErrorFrame.of(VortexErrorCode.BUSY, "busy"), wire);
        assertThat(wire.getByte(1)).as("tag Error").isEqualTo((byte) 255);
        assertThat(wire.getByte(6)).as("code").isEqualTo((byte) 4);
        EmbeddedChannel client = new EmbeddedChannel(new VortexDecoder(VortexDecoder.Side.CLIENT));
        client.writeInbound(wire);
        VortexFrame.ErrorFrame decoded = client.readInbound();
        assertThat(decoded.code()).isEqualTo(4);
        assertThat(decoded.message()).isEqualTo("busy");
        client.finishAndReleaseAll();
    }
}
