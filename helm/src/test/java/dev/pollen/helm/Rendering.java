package dev.pollen.helm;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;

/** One render of the chart with the values it was given, so a test can compare what was asked with what came out. */
record Rendering(String name, JsonNode values, Manifests manifests) {
    static Rendering of(String name, Path valuesFile) {
        return new Rendering(name, PollenChart.values(valuesFile), PollenChart.render(valuesFile, Map.of()));
    }

    /** The default values, and every option on with every port and path moved. */
    static Stream<Rendering> both() {
        return Stream.of(of("default values", null), of("all-features values", PollenChart.ALL_FEATURES));
    }

    /** The value at a dotted path, e.g. {@code agent.socketDir}. */
    JsonNode value(String dotted) {
        JsonNode node = values;
        for (String part : dotted.split("\\.")) {
            node = node.path(part);
        }
        return node;
    }

    @Override
    public String toString() {
        return name;
    }
}
