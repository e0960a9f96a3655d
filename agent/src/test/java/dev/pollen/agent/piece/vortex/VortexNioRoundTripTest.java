package dev.pollen.agent.piece.vortex;

import dev.pollen.agent.upload.vortex.VortexTransport;

class VortexNioRoundTripTest extends VortexRoundTripTestBase {
    @Override
    VortexTransport transport() {
        return VortexTransport.NIO;
    }
}
