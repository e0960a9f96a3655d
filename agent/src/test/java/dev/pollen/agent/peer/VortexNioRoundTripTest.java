package dev.pollen.agent.peer;

import dev.pollen.agent.vortex.VortexTransport;

class VortexNioRoundTripTest extends VortexRoundTripTestBase {
    @Override
    VortexTransport transport() {
        return VortexTransport.NIO;
    }
}
