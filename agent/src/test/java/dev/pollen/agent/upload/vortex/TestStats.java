package dev.pollen.agent.upload.vortex;

/** Counters of a Vortex server that serves nothing, for code that reports them. */
public final class TestStats {
    private TestStats() {
    }

    public static VortexServerStats idle() {
        return new VortexServerStats(new UploadSlots(1));
    }
}
