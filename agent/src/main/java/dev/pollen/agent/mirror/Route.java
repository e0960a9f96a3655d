package dev.pollen.agent.mirror;

import dev.pollen.agent.storage.ContentDigest;
import java.net.URI;

/**
 * Where one request goes and why: through P2P (a blob by digest), answered from the store (HEAD of a blob, a manifest), or passed
 * through to {@code upstream} with the reason it is not P2P.
 */
sealed interface Route permits Route.Blob, Route.StoredHead, Route.Manifest, Route.PassThrough {
    URI upstream();

    /** GET of a blob: one task per digest, through P2P. */
    record Blob(URI upstream, ContentDigest digest, RegistryObject object) implements Route {
    }

    /** HEAD of a blob: answered from the store when this node has it verified, else passed through. */
    record StoredHead(URI upstream, ContentDigest digest, RegistryObject object) implements Route {
    }

    /** GET or HEAD of a manifest, by digest (kept in the store) or by tag (remembered, served stale if need be). */
    record Manifest(URI upstream, RegistryObject object) implements Route {
    }

    /** @param reason why not P2P, as {@code X-Pollen-Reason} and in the log */
    record PassThrough(URI upstream, String reason) implements Route {
    }
}
