package dev.pollen.e2e;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where the packaged agent and its launchers are: the repository root, passed by failsafe as {@code pollen.home}. */
final class Pollen {
    private Pollen() {
    }

    static Path home() {
        String home = System.getProperty("pollen.home");
        Path dir = home != null ? Path.of(home) : Path.of("").toAbsolutePath().getParent();
        if (!Files.isRegularFile(dir.resolve("agent/target/pollen-agent.jar"))) {
            throw new IllegalStateException(dir.resolve("agent/target/pollen-agent.jar")
                    + " is missing (fix: ./mvnw -q -o install -DskipTests, then run the e2e tests)");
        }
        return dir.toAbsolutePath().normalize();
    }

    static Path dfdaemon() {
        return home().resolve("bin/dfdaemon");
    }

    static Path dfget() {
        return home().resolve("bin/dfget");
    }

    static Path scheduler() {
        Path jar = home().resolve("scheduler/target/pollen-scheduler.jar");
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException(jar + " is missing (fix: ./mvnw -q -o install -DskipTests, then run the e2e tests)");
        }
        return home().resolve("bin/scheduler");
    }
}
