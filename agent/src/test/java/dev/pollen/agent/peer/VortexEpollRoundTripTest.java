package dev.pollen.agent.peer;

import dev.pollen.agent.vortex.VortexTransport;

class VortexEpollRoundTripTest extends VortexRoundTripTestBase {
    @Override
    VortexTransport transport() {
        return VortexTransport.EPOLL;
    }
}
