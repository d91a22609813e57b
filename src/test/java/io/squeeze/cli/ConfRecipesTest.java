package io.squeeze.cli;

import io.squeeze.core.Storage;
import org.apache.hadoop.fs.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every recipe shipped in conf/recipes passes the whole validation {@code squeeze run} does before any Spark work
 * (keys, options, values, each stage's command line), with its model and data pointed at the digits fixtures (the
 * MNIST models they name are made by the jobs/mnist-* scripts, not by the tests).
 */
class ConfRecipesTest {
    @TempDir
    static java.nio.file.Path dir;

    @Test
    void everyShippedRecipeValidates() throws Exception {
        String model = CliRun.digitsMlp(dir.resolve("m").toString());
        String d = "csv:data/digits/digits-train.csv.gz";
        List<java.nio.file.Path> files;
        try (Stream<java.nio.file.Path> s = Files.list(java.nio.file.Path.of("conf/recipes"))) {
            files = s.filter(p -> p.toString().endsWith(".yaml")).sorted().toList();
        }
        assertTrue(files.size() >= 6, "recipes: " + files);
        Storage st = new Storage(new org.apache.hadoop.conf.Configuration());
        for (java.nio.file.Path f : files) {
            String text = Files.readString(f);
            List<String> sets = text.contains("\nmodel:") ? List.of("model=" + model, "vars.mnist=" + d, "vars.digits=data/digits") : List.of("vars.digits=data/digits");
            Recipe r = Recipe.parse(f.toString(), text, sets);
            RecipeRun run = new RecipeRun(r, st, new Path(dir.resolve("out-" + r.name()).toString()), new PrintWriter(new StringWriter()));
            run.validate(false, 0);
            assertFalse(Files.exists(dir.resolve("out-" + r.name())), "validation writes nothing");
        }
    }
}
