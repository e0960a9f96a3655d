package dev.pollen.agent.origin;

import java.net.URI;

/**
 * Decides whether the origin client may connect to a url: checked for the url asked for and again for
 * every redirect target, before any request goes out. The place for a deny list of addresses (link-local,
 * cloud metadata) that downloads made on another's behalf must not reach.
 */
@FunctionalInterface
public interface OriginPolicy {
    /** Every url is allowed. */
    OriginPolicy ALLOW_ALL = (uri, redirect) -> { };

    /**
     * @param redirect whether {@code uri} is a redirect target rather than the url asked for
     * @throws dev.pollen.agent.error.PollenException with the code and the message the user gets, when {@code uri} must not be fetched
     */
    void check(URI uri, boolean redirect);
}
