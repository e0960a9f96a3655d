package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.e2e.TestFiles.TestFile;
import dev.pollen.e2e.registry.Commands;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.testcontainers.containers.GenericContainer;

/**
 * The repository's Dockerfile, built by podman on the locally built base (image/build-base) for both stages'
 * arguments: its target {@code prebuilt} (the layout bin/build made, image/target/pollen.tar.gz), which must be the
 * Jib image's twin and serve, and its default target, which builds the jars with the Maven wrapper in its first
 * stage. No JDK image can be pulled here, so that stage runs on the base with this JDK mounted over its runtime and
 * this user's Maven repository mounted, as a JDK image with a warm cache would be.
 */
class DockerfileTest {
    private static final String BASE = "localhost/pollen-base:25";
    private static final String IMAGE = "localhost/pollen-dockerfile:test";
    private static final String FROM_SOURCE = "localhost/pollen-dockerfile:from-source";

    @RegisterExtension
    static final Nginx origin = new Nginx();

    @RegisterExtension
    final AgentContainers agents = new AgentContainers();

    @TempDir
    Path dir;

    @BeforeAll
    static void buildImage() {
        assertThat(Podman.run("image", "exists", BASE).exit()).as(BASE + " (fix: run image/build-base, or bin/test)").isZero();
        assertThat(Pollen.home().resolve("image/target/pollen.tar.gz")).as("the installed layout (fix: bin/build)").exists();
        Podman.loadImage();
        Podman.check("build", "-q", "--target", "prebuilt", "--build-arg", "BUILD_IMAGE=" + BASE,
                "--build-arg", "BASE_IMAGE=" + BASE, "-t", IMAGE, Pollen.home().toString());
    }

    /** Built again by every run: kept, each run would leave the last one's images untagged in the cache. */
    @AfterAll
    static void removeImages() {
        Podman.run("rmi", "-f", IMAGE, FROM_SOURCE);
    }

    @Test
    void holdsTheJibImagesLaunchersJarsAndContainerSettings() {
        for (String format : List.of("{{.Config.User}}", "{{.Config.Entrypoint}}", "{{.Config.Cmd}}", "{{.Config.WorkingDir}}")) {
            assertThat(imageConfig(IMAGE, format)).as(format).isEqualTo(imageConfig(Podman.IMAGE, format));
        }
        assertThat(env(IMAGE)).containsExactlyInAnyOrderElementsOf(env(Podman.IMAGE));
        for (String path : List.of("/opt/pollen/bin", "/opt/pollen/libs")) {
            assertThat(list(IMAGE, path)).as(path).isNotEmpty().isEqualTo(list(Podman.IMAGE, path));
        }
        assertThat(list(IMAGE, "/opt/pollen")).contains("logback.xml");
    }

    @Test
    void theDefaultTargetBuildsTheSameLayoutFromTheSources() {
        Path m2 = Path.of(System.getProperty("user.home"), ".m2");
        // Compiling every module takes about a minute on two cores, longer next to other builds.
        // No cached layers: the build stage's image (the sources and their build, 400 MB) would pile up in the cache.
        Commands.check(Duration.ofMinutes(6), Podman.command("build", "-q", "--layers=false", "--network", "host",
                "-v", System.getProperty("java.home") + ":/opt/java:ro", "-v", m2 + ":/root/.m2",
                "--build-arg", "BUILD_IMAGE=" + BASE, "--build-arg", "BASE_IMAGE=" + BASE, "-t", FROM_SOURCE,
                Pollen.home().toString()));

        for (String path : List.of("/opt/pollen/bin", "/opt/pollen/libs")) {
            assertThat(list(FROM_SOURCE, path)).as(path).isNotEmpty().isEqualTo(list(Podman.IMAGE, path));
        }
        assertThat(Podman.check("run", "--rm", FROM_SOURCE, "--version").out()).startsWith("Pollen dfdaemon");
    }

    @Test
    void servesAsUser65532ThroughAHostSocketDirectory() throws Exception {
        TestFile file = origin.createFile("dockerfile.bin", 8 * MiB, 31);
        Path sockets = Files.createDirectories(dir.resolve("run"));
        Path outputs = Files.createDirectories(dir.resolve("out"));
        Commands.check(Podman.TIMEOUT, List.of("chown", "65532:65532", sockets.toString(), outputs.toString()));

        GenericContainer<?> agent = agents.start(agents.agent(IMAGE, sockets, outputs));

        assertThat(agent.execInContainer("id", "-u").getStdout().strip()).isEqualTo("65532");
        Path output = outputs.resolve("dockerfile.bin");
        Dfget.Result result = new Dfget(sockets.resolve("dfdaemon.sock"), dir).download(origin.url("dockerfile.bin"), output);
        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(TestFiles.sha256(output)).isEqualTo(file.sha256());
    }

    private static String imageConfig(String image, String format) {
        return Podman.check("image", "inspect", "--format", format, image).out().strip();
    }

    /** The environment's entries, in whatever order the image lists them. */
    private static List<String> env(String image) {
        String env = imageConfig(image, "{{range .Config.Env}}{{println .}}{{end}}");
        return Arrays.asList(env.split("\n"));
    }

    private static List<String> list(String image, String path) {
        return Podman.check("run", "--rm", "--entrypoint", "ls", image, path).out().lines().toList();
    }
}
