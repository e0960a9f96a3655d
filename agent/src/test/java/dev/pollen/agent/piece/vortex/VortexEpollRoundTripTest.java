package dev.pollen.agent.piece.vortex;

import dev.pollen.agent.upload.vortex.VortexTransport;

class VortexEpollRoundTripTest extends VortexRoundTripTestBase {
    @Override
    VortexTransport transport() {
        return VortexTransport.EPOLL;
    }
}
