package dev.pollen.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.e2e.registry.Commands;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The podman CLI with Pollen's configuration and storage (image/podman-env), where image/build-base put the base, and
 * the Pollen image Jib built on it (image/target/pollen-image.tar). For what Testcontainers cannot do ({@code podman
 * kube play}, {@code podman build}) and for {@link PodmanService}; containers are run through {@link AgentContainers}.
 */
final class Podman {
    static final String IMAGE = "localhost/pollen:0.1.0-SNAPSHOT";
    static final Duration TIMEOUT = Duration.ofSeconds(120);
    private static final Path CACHE = Path.of(System.getenv().getOrDefault("POLLEN_IMAGE_CACHE", "/var/cache/pollen-image"));

    private Podman() {
    }

    /** Loads the image bin/test built (a no-op when podman has it already). */
    static void loadImage() {
        check("load", "-q", "-i", imageTar().toString());
    }

    /** The Jib image bin/test built, {@link #IMAGE}; fails the test with the fix when it is missing. */
    static Path imageTar() {
        Path tar = Pollen.home().resolve("image/target/pollen-image.tar");
        assertThat(tar).as("the Jib image (fix: run bin/test, or ./mvnw -pl image package jib:buildTar"
                + " -Dpollen.image.base=tar://$(image/build-base))").exists();
        return tar;
    }

    /** Runs podman and fails the test unless it exits 0. */
    static Commands.Result check(String... args) {
        return Commands.check(TIMEOUT, command(args));
    }

    /** Runs podman, whatever its exit. */
    static Commands.Result run(String... args) {
        return Commands.run(TIMEOUT, command(args));
    }

    static String logs(String container) {
        Commands.Result result = run("logs", container);
        return result.out() + result.err();
    }

    static List<String> command(String... args) {
        List<String> command = new ArrayList<>(List.of("env",
                "CONTAINERS_CONF=" + CACHE.resolve("containers.conf"),
                "CONTAINERS_STORAGE_CONF=" + CACHE.resolve("storage.conf"),
                Commands.binary("podman", "podman")));
        command.addAll(List.of(args));
        return command;
    }
}
