package dev.pollen.agent.config;

/** {@code seedPeer.*}: a seed peer is announced as such and fetches from the origin when the scheduler asks. */
public record SeedPeerConfig(boolean enable) {
}
