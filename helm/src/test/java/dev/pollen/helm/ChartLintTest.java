package dev.pollen.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.marcnuri.helm.LintResult;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChartLintTest {
    @Test
    void passesStrictLintWithItsDefaultValues() {
        LintResult result = PollenChart.lint();
        assertThat(result.isFailed()).as("helm lint --strict: %s", result.getMessages()).isFalse();
    }

    @Test
    void passesStrictLintWithEveryOptionOn(@TempDir Path scratch) {
        LintResult result = PollenChart.lint(PollenChart.ALL_FEATURES, scratch);
        assertThat(result.isFailed()).as("helm lint --strict: %s", result.getMessages()).isFalse();
    }
}
