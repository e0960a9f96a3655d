package dev.pollen.agent.preheat;

import java.nio.charset.StandardCharsets;
import java.util.Base64;

/** A registry user name and password (or token), sent as HTTP Basic to the registry's token endpoint. */
public record Credentials(String username, String password) {
    String basic() {
        return "Basic " + Base64.getEncoder().encodeToString((username + ":" + password).getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public String toString() {
        return "Credentials[username=" + username + ", password=***]";
    }
}
