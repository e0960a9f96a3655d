package dev.pollen.agent;

import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/**
 * Keeps DESIGN.md's package layout true: each concern depends only on those below it, so the data path
 * can be read bottom-up and the download side never reaches into the upload side.
 */
class ArchitectureTest {
    private static final JavaClasses AGENT = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("dev.pollen.agent");

    @Test
    void packagesDependOnlyOnThoseBelowThem() {
        layeredArchitecture().consideringOnlyDependenciesInLayers()
                .layer("cli").definedBy("dev.pollen.agent.cli..")
                .layer("setup").definedBy("dev.pollen.agent.setup..")
                .layer("mirror").definedBy("dev.pollen.agent.mirror..")
                .layer("preheat").definedBy("dev.pollen.agent.preheat..")
                .layer("api").definedBy("dev.pollen.agent.api..")
                .layer("upload").definedBy("dev.pollen.agent.upload..")
                .layer("task").definedBy("dev.pollen.agent.task..")
                .layer("peer").definedBy("dev.pollen.agent.peer..")
                .layer("origin").definedBy("dev.pollen.agent.origin..")
                .layer("vortex").definedBy("dev.pollen.agent.vortex..")
                .layer("storage").definedBy("dev.pollen.agent.storage..")
                .layer("config").definedBy("dev.pollen.agent.config..")
                .layer("metrics").definedBy("dev.pollen.agent.metrics..")
                .layer("error").definedBy("dev.pollen.agent.error..")
                .whereLayer("cli").mayOnlyAccessLayers("config", "error", "storage")
                .whereLayer("setup").mayOnlyAccessLayers("config", "error")
                .whereLayer("mirror").mayNotBeAccessedByAnyLayer()
                .whereLayer("mirror").mayOnlyAccessLayers("task", "origin", "storage", "config", "metrics", "error")
                .whereLayer("preheat").mayOnlyAccessLayers("upload", "origin", "config", "error")
                .whereLayer("api").mayOnlyAccessLayers("task", "storage", "config", "error")
                .whereLayer("upload").mayOnlyAccessLayers("task", "origin", "vortex", "storage", "config", "error")
                .whereLayer("task").mayOnlyAccessLayers("peer", "origin", "storage", "config", "metrics", "error")
                .whereLayer("peer").mayOnlyAccessLayers("vortex", "storage", "config", "error")
                .whereLayer("origin").mayOnlyAccessLayers("storage", "config", "error")
                .whereLayer("vortex").mayOnlyAccessLayers("storage", "error")
                .whereLayer("storage").mayOnlyAccessLayers("config", "metrics", "error")
                .whereLayer("config").mayOnlyAccessLayers("error")
                .whereLayer("metrics").mayNotAccessAnyLayer()
                .whereLayer("error").mayNotAccessAnyLayer()
                .check(AGENT);
    }

    @Test
    void theDownloadSideNeverImportsTheUploadSide() {
        noClasses().that().resideInAPackage("dev.pollen.agent.peer..")
                .should().dependOnClassesThat().resideInAPackage("dev.pollen.agent.upload..")
                .check(AGENT);
    }

    @Test
    void onlyTheCompositionRootWiresTheParts() {
        noClasses().that().resideOutsideOfPackage("dev.pollen.agent")
                .should().dependOnClassesThat().haveFullyQualifiedName("dev.pollen.agent.Daemon")
                .check(AGENT);
    }
}
