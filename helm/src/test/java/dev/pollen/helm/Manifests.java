package dev.pollen.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The objects of one {@code helm template} output, each bound to its fabric8 model class (unknown kinds: generic). */
final class Manifests {
    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
    private static final Map<String, Class<? extends HasMetadata>> KINDS = Map.of(
            "DaemonSet", DaemonSet.class, "StatefulSet", StatefulSet.class, "Service", Service.class,
            "ConfigMap", ConfigMap.class, "Pod", Pod.class, "NetworkPolicy", NetworkPolicy.class);

    private final List<HasMetadata> objects;

    private Manifests(List<HasMetadata> objects) {
        this.objects = objects;
    }

    static Manifests parse(String rendered) {
        List<HasMetadata> objects = new ArrayList<>();
        try (var docs = YAML.readerFor(JsonNode.class).<JsonNode>readValues(rendered)) {
            while (docs.hasNext()) {
                JsonNode doc = docs.next();
                if (doc == null || doc.isNull() || doc.isMissingNode()) {
                    continue;
                }
                Class<? extends HasMetadata> type = KINDS.getOrDefault(doc.path("kind").asText(), GenericKubernetesResource.class);
                objects.add(YAML.treeToValue(doc, type));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("helm template rendered invalid YAML or an invalid object", e);
        }
        return new Manifests(objects);
    }

    static JsonNode read(Path file) {
        try {
            return YAML.readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static JsonNode read(String yaml) {
        try {
            return YAML.readTree(yaml);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void write(Object value, Path file) {
        try {
            YAML.writeValue(file.toFile(), value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    List<HasMetadata> all() {
        return objects;
    }

    /** The one object of this kind named {@code <release>-<suffix>} ({@code suffix} empty: the release's name). */
    <T extends HasMetadata> T get(Class<T> type, String kind, String suffix) {
        String name = suffix.isEmpty() ? PollenChart.RELEASE : PollenChart.RELEASE + "-" + suffix;
        List<HasMetadata> found = objects.stream()
                .filter(o -> o.getKind().equals(kind) && o.getMetadata().getName().equals(name)).toList();
        assertThat(found).as("rendered %s %s", kind, name).hasSize(1);
        return type.cast(found.getFirst());
    }

    DaemonSet daemonSet(String suffix) {
        return get(DaemonSet.class, "DaemonSet", suffix);
    }

    StatefulSet statefulSet(String suffix) {
        return get(StatefulSet.class, "StatefulSet", suffix);
    }

    Service service(String suffix) {
        return get(Service.class, "Service", suffix);
    }

    GenericKubernetesResource generic(String kind, String suffix) {
        return get(GenericKubernetesResource.class, kind, suffix);
    }

    /** The dfdaemon.yaml of the ConfigMap {@code <release>-<suffix>}, as text. */
    String dfdaemonYaml(String suffix) {
        String yaml = get(ConfigMap.class, "ConfigMap", suffix).getData().get("dfdaemon.yaml");
        assertThat(yaml).as("dfdaemon.yaml of ConfigMap %s", suffix).isNotBlank();
        return yaml;
    }

    boolean has(String kind) {
        return objects.stream().anyMatch(o -> o.getKind().equals(kind));
    }
}
