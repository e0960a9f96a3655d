package dev.pollen.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** Look-ups in a pod spec that the chart's tests share. */
final class Pods {
    private Pods() {
    }

    static Container container(PodSpec pod, String name) {
        return Stream.concat(pod.getContainers().stream(), pod.getInitContainers().stream())
                .filter(c -> c.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no container " + name + " in the pod"));
    }

    static List<Container> allContainers(PodSpec pod) {
        return Stream.concat(pod.getInitContainers().stream(), pod.getContainers().stream()).toList();
    }

    static Volume volume(PodSpec pod, String name) {
        return pod.getVolumes().stream().filter(v -> v.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no volume " + name + " in the pod"));
    }

    static VolumeMount mount(Container c, String volume) {
        List<VolumeMount> mounts = c.getVolumeMounts().stream().filter(m -> m.getName().equals(volume)).toList();
        assertThat(mounts).as("mounts of volume %s in container %s", volume, c.getName()).hasSize(1);
        return mounts.getFirst();
    }

    /** The container's ports by name. */
    static Map<String, Integer> ports(Container c) {
        return c.getPorts().stream().collect(Collectors.toMap(ContainerPort::getName, ContainerPort::getContainerPort));
    }

    static String env(Container c, String name) {
        return c.getEnv().stream().filter(e -> e.getName().equals(name)).map(EnvVar::getValue).findFirst()
                .orElseThrow(() -> new AssertionError("no " + name + " in the environment of " + c.getName()));
    }
}
