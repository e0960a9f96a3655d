package dev.pollen.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The rendered PrometheusRule's groups through Prometheus' own tool: {@code promtool check rules} on them as rendered,
 * and {@code promtool test rules} with a small input series per alert, on which it fires, and one on which it does not;
 * the Grafana dashboard's queries through {@code promtool check rules} too.
 */
class PrometheusRuleTest {
    private static final List<String> ALERTS = List.of(
            "PollenAgentDown", "PollenBackToSourceRatioHigh", "PollenDownloadFailureRateHigh", "PollenDiskNearQuota");

    @TempDir
    Path dir;
    private JsonNode groups;

    @BeforeEach
    void render() {
        GenericKubernetesResource rule = PollenChart.render(Map.of("metrics.prometheusRule.enable", true))
                .generic("PrometheusRule", "");
        groups = Manifests.YAML.valueToTree(rule.getAdditionalProperties().get("spec"));
    }

    @Test
    void renderedRulesPassPromtoolCheck() throws Exception {
        Path rules = dir.resolve("rules.yaml");
        Manifests.write(groups, rules);
        assertThat(groups.at("/groups/0/rules")).extracting(r -> r.path("alert").asText()).containsExactlyElementsOf(ALERTS);
        Result check = promtool("check", "rules", rules.toString());
        assertThat(check.exit()).as("promtool check rules:%n%s", check.output()).isZero();
        assertThat(check.output()).contains("SUCCESS: " + ALERTS.size() + " rules found");
    }

    /**
     * promtool compares annotations too; theirs hold the current value, so the test's copy of the rules drops them
     * (the check above validates them as rendered).
     */
    @Test
    void eachAlertFiresOnBadInputAndNotOnGood() throws Exception {
        JsonNode tested = groups.deepCopy();
        tested.at("/groups/0/rules").forEach(r -> ((ObjectNode) r).remove("annotations"));
        Manifests.write(tested, dir.resolve("rules.yaml"));
        Path tests = dir.resolve("alerts-test.yaml");
        try (InputStream in = PrometheusRuleTest.class.getResourceAsStream("/alerts-test.yaml")) {
            Files.copy(in, tests);
        }
        for (String alert : ALERTS) {
            assertThat(Files.readString(tests)).as("a test of %s", alert).contains("alertname: " + alert);
        }
        Result test = promtool("test", "rules", tests.toString());
        assertThat(test.exit()).as("promtool test rules:%n%s", test.output()).isZero();
        assertThat(test.output()).contains("SUCCESS");
    }

    /** Grafana's variables replaced by values, each panel query is a recording rule promtool must accept. */
    @Test
    void dashboardQueriesArePromQL() throws Exception {
        Manifests m = PollenChart.render(Map.of("metrics.grafanaDashboard.enable", true));
        JsonNode dashboard = Manifests.read(m.get(ConfigMap.class, "ConfigMap", "dashboard").getData().get("pollen.json"));
        List<Map<String, String>> rules = new ArrayList<>();
        for (JsonNode panel : dashboard.path("panels")) {
            for (JsonNode target : panel.path("targets")) {
                String expr = target.path("expr").asText().replace("$__rate_interval", "5m")
                        .replace("$job", ".*").replace("$scheduler", ".*");
                rules.add(Map.of("record", "dashboard:panel" + panel.path("id").asInt() + target.path("refId").asText(), "expr", expr));
            }
        }
        assertThat(rules).hasSizeGreaterThanOrEqualTo(dashboard.path("panels").size());
        Path file = dir.resolve("dashboard-rules.yaml");
        Manifests.write(Map.of("groups", List.of(Map.of("name", "dashboard", "rules", rules))), file);
        Result check = promtool("check", "rules", file.toString());
        assertThat(check.exit()).as("promtool check rules on the dashboard's queries:%n%s", check.output()).isZero();
    }

    private record Result(int exit, String output) {
    }

    private Result promtool(String... args) throws IOException, InterruptedException {
        Path promtool = Path.of("/usr/bin/promtool");
        assertThat(promtool).as("promtool (fix: apt-get install -y prometheus; bin/test installs it)").isExecutable();
        List<String> command = new ArrayList<>(List.of(promtool.toString()));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("promtool finished").isTrue();
        return new Result(p.exitValue(), output);
    }
}
