package io.squeeze;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.library.Architectures;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The package structure of {@code io.squeeze} (main classes only): layers that import only downwards, and no
 * cycle between any two packages — the rules {@code docs/ARCHITECTURE.md} describes.
 */
class ArchitectureTest {
    private static final JavaClasses MAIN = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("io.squeeze");

    static final List<String> TECHNIQUES = List.of("prune", "lowrank", "quantize", "distill", "eval", "search");

    @Test
    void layersImportOnlyDownwards() {
        Architectures.layeredArchitecture().consideringOnlyDependenciesInLayers()
                .layer("Core").definedBy("io.squeeze.core..")
                .layer("Data").definedBy("io.squeeze.data..")
                .layer("Model").definedBy("io.squeeze.model..")
                .layer("Techniques").definedBy(TECHNIQUES.stream().map(t -> "io.squeeze." + t + "..").toArray(String[]::new))
                .layer("Artifact").definedBy("io.squeeze.artifact..")
                .layer("Execution").definedBy("io.squeeze.spark..")
                .layer("Cli").definedBy("io.squeeze.cli..")
                .layer("Ml").definedBy("io.squeeze.ml..")
                .layer("Bench").definedBy("io.squeeze.bench..")
                .whereLayer("Cli").mayNotBeAccessedByAnyLayer()
                .whereLayer("Bench").mayNotBeAccessedByAnyLayer()
                .whereLayer("Ml").mayNotBeAccessedByAnyLayer()
                .whereLayer("Execution").mayOnlyBeAccessedByLayers("Cli", "Bench", "Ml")
                .whereLayer("Artifact").mayOnlyBeAccessedByLayers("Execution", "Cli", "Bench", "Ml")
                .whereLayer("Techniques").mayOnlyBeAccessedByLayers("Artifact", "Execution", "Cli", "Bench", "Ml")
                .whereLayer("Model").mayOnlyBeAccessedByLayers("Techniques", "Artifact", "Execution", "Cli", "Bench", "Ml")
                .whereLayer("Data").mayOnlyBeAccessedByLayers("Model", "Techniques", "Artifact", "Execution", "Cli", "Bench", "Ml")
                .check(MAIN);
    }

    @Test
    void noPackageCycles() {
        slices().matching("io.squeeze.(*)..").should().beFreeOfCycles().check(MAIN);
    }

    @Test
    void nothingLivesInTheRootPackage() {
        assertEquals(List.of(), MAIN.stream().filter(c -> c.getPackageName().equals("io.squeeze") && !c.getSimpleName().equals("package-info")).map(c -> c.getName()).toList());
    }

    @Test
    void everyPackageSaysWhatItIs() throws IOException {
        Path root = Path.of("src/main/java/io/squeeze");
        try (Stream<Path> dirs = Files.walk(root)) {
            for (Path d : dirs.filter(Files::isDirectory).toList()) {
                boolean hasSource;
                try (Stream<Path> files = Files.list(d)) {
                    hasSource = files.anyMatch(f -> f.toString().endsWith(".java"));
                }
                if (hasSource) assertTrue(Files.isRegularFile(d.resolve("package-info.java")), d + " has no package-info.java");
            }
        }
    }
}
