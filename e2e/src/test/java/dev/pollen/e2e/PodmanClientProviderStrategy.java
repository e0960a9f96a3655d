package dev.pollen.e2e;

import java.net.URI;
import org.testcontainers.dockerclient.DockerClientProviderStrategy;
import org.testcontainers.dockerclient.TransportConfig;

/**
 * Points Testcontainers at the tests' own podman service ({@link PodmanService}) from inside the JVM, so that no one
 * has to export DOCKER_HOST; found through {@code META-INF/services}, first of all strategies while the service runs.
 * Containers are reached on localhost: this machine has a {@code /.dockerenv}, from which Testcontainers would
 * otherwise guess it runs in a container and look for a gateway.
 */
public final class PodmanClientProviderStrategy extends DockerClientProviderStrategy {
    @Override
    public TransportConfig getTransportConfig() {
        return TransportConfig.builder().dockerHost(URI.create(System.getProperty(PodmanService.SOCKET_PROPERTY))).build();
    }

    @Override
    protected boolean isApplicable() {
        return System.getProperty(PodmanService.SOCKET_PROPERTY) != null;
    }

    @Override
    protected int getPriority() {
        return Integer.MAX_VALUE;
    }

    /** Its socket is this run's: never remembered in ~/.testcontainers.properties for the next. */
    @Override
    protected boolean isPersistable() {
        return false;
    }

    @Override
    public String getDockerHostIpAddress() {
        return "localhost";
    }

    @Override
    public String getDescription() {
        return "podman system service started by the Pollen e2e tests at " + System.getProperty(PodmanService.SOCKET_PROPERTY);
    }
}
