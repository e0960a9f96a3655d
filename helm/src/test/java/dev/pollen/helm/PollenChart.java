package dev.pollen.helm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import com.marcnuri.helm.TemplateCommand;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The chart in {@code helm/pollen}, run through helm itself (helm-java's bundled native library): lint and
 * template, with the default values or other ones.
 */
final class PollenChart {
    static final String RELEASE = "pollen";
    static final String NAMESPACE = "pollen-system";
    /** The chart, from the module's directory (Surefire's working directory). */
    static final Path DIR = Path.of("pollen").toAbsolutePath();
    /** Values that switch on every option and move every port and path away from its default. */
    static final Path ALL_FEATURES = DIR.resolve("ci/all-features-values.yaml");
    /** helm template assumes Kubernetes 1.20 without a cluster, below the chart's kubeVersion. */
    static final String KUBE_VERSION = "1.31.0";

    private PollenChart() {
    }

    static Manifests render() {
        return render(Map.of());
    }

    /** Renders with {@code --set key=value} for each entry. */
    static Manifests render(Map<String, Object> sets) {
        return render(null, sets);
    }

    static Manifests render(Path valuesFile, Map<String, Object> sets) {
        TemplateCommand template = new Helm(DIR).template().withName(RELEASE).withNamespace(NAMESPACE)
                .withKubeVersion(KUBE_VERSION);
        if (valuesFile != null) {
            template.withValuesFile(valuesFile);
        }
        sets.forEach(template::set);
        return Manifests.parse(template.call());
    }

    /** {@code helm lint --strict} of the chart with its own values.yaml. */
    static LintResult lint() {
        return new Helm(DIR).lint().strict().call();
    }

    /**
     * {@code helm lint --strict} with other values: helm-java's lint takes no values file, so the chart is copied
     * and its values.yaml replaced by the defaults with {@code valuesFile} merged over them, as helm merges them.
     */
    static LintResult lint(Path valuesFile, Path scratch) {
        Path copy = scratch.resolve("pollen");
        copyTree(DIR, copy);
        Manifests.write(values(valuesFile), copy.resolve("values.yaml"));
        return new Helm(copy).lint().strict().call();
    }

    /** The values a render with {@code valuesFile} (null: none) sees: the chart's defaults with the file merged over them. */
    static ObjectNode values(Path valuesFile) {
        ObjectNode values = (ObjectNode) Manifests.read(DIR.resolve("values.yaml"));
        if (valuesFile != null) {
            merge(values, Manifests.read(valuesFile));
        }
        return values;
    }

    private static void merge(ObjectNode target, JsonNode source) {
        source.fields().forEachRemaining(e -> {
            JsonNode existing = target.get(e.getKey());
            if (existing instanceof ObjectNode o && e.getValue().isObject()) {
                merge(o, e.getValue());
            } else {
                target.set(e.getKey(), e.getValue());
            }
        });
    }

    private static void copyTree(Path from, Path to) {
        try (Stream<Path> files = Files.walk(from)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
