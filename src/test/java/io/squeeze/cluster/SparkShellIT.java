package io.squeeze.cluster;

import io.squeeze.artifact.Loaded;
import io.squeeze.artifact.Models;
import io.squeeze.artifact.OnnxExportTest;
import io.squeeze.core.Storage;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code io.squeeze.ml.SqueezeModel} from {@code spark-shell}, as a user runs it: Spark's REPL
 * ({@code org.apache.spark.repl.Main}, launched by {@code spark-submit} as the distribution's {@code bin/spark-shell}
 * does, with {@code -Dscala.usejavacp=true}) on the test distribution's jars, the job jar given with {@code --jars},
 * reads a script from stdin that builds a {@code VectorAssembler} + {@code SqueezeModel} pipeline, saves it, loads it
 * with {@code PipelineModel.load} and prints its predictions of the digits test set, which must be the model's own.
 *
 * <p>The REPL is {@code spark-repl_2.12} 3.5.1 with {@code scala-compiler} 2.12.18: the Maven repository reachable
 * here does not serve spark-repl 3.5.9 (3.5.x share the REPL's code; the rest of Spark is 3.5.9).
 */
class SparkShellIT {
    @TempDir
    static Path dir;

    /** The jar on this JVM's classpath whose file name starts with {@code prefix}. */
    private static String jar(String prefix) {
        return Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
                .filter(p -> Path.of(p).getFileName().toString().startsWith(prefix)).findFirst()
                .orElseThrow(() -> new AssertionError(prefix + "* is not on the test classpath (pom.xml)"));
    }

    @Test
    void aSavedPipelineWithSqueezeModelLoadsAndPredictsInSparkShell() throws Exception {
        SparkHome spark = SparkHome.get();
        Path jobJar;
        try (var l = Files.list(SparkHome.TARGET)) {
            jobJar = l.filter(p -> p.getFileName().toString().matches("squeeze-.*-job\\.jar")).findFirst().orElseThrow();
        }
        String model = SparkHome.BASE.resolve("src/test/resources/fixtures/artifacts-v2/dense").toString();
        String data = SparkHome.BASE.resolve("data/digits/digits-test.csv.gz").toString();
        Path script = dir.resolve("score.scala"), saved = dir.resolve("pipeline");
        Files.writeString(script, String.join("\n",
                "import io.squeeze.ml.SqueezeModel",
                "import org.apache.spark.ml.{Pipeline, PipelineModel, PipelineStage}",
                "import org.apache.spark.ml.feature.VectorAssembler",
                "val df = spark.read.option(\"inferSchema\", \"true\").csv(\"" + data + "\")",
                "val assembler = new VectorAssembler().setInputCols(df.columns.take(64)).setOutputCol(\"features\")",
                "val squeeze = SqueezeModel.of(\"" + model + "\").setFeaturesCol(\"features\")",
                "new Pipeline().setStages(Array[PipelineStage](assembler, squeeze)).fit(df).write.overwrite().save(\"" + saved + "\")",
                "val preds = PipelineModel.load(\"" + saved + "\").transform(df).select(\"prediction\").collect().map(_.getDouble(0).toInt)",
                "println(\"SQUEEZE-PREDICTIONS \" + preds.mkString(\",\"))",
                ":quit", ""));
        List<String> cmd = new ArrayList<>(List.of(SparkHome.java()));
        cmd.addAll(Arrays.asList(SparkHome.JVM_FLAGS.split(" ")));
        cmd.addAll(List.of("-Xmx1g", SparkHome.SHORT_JOB_JIT, "-Dscala.usejavacp=true",
                SparkHome.LOG4J,
                "-cp", spark.path().resolve("jars") + "/*" + File.pathSeparator + jar("spark-repl_2.12-") + File.pathSeparator + jar("scala-compiler-"),
                "org.apache.spark.deploy.SparkSubmit", "--master", "local[2]", "--class", "org.apache.spark.repl.Main",
                "--name", "Spark shell", "--conf", "spark.ui.enabled=false", "--conf", "spark.driver.host=127.0.0.1",
                "--jars", jobJar.toString(), "spark-shell"));
        Path log = dir.resolve("shell.log");
        Process p = new ProcessBuilder(cmd).redirectInput(script.toFile()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(240, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("spark-shell did not end:\n" + Files.readString(log));
        }
        String out = Files.readString(log, StandardCharsets.UTF_8);
        String line = out.lines().filter(l -> l.startsWith("SQUEEZE-PREDICTIONS ")).findFirst()
                .orElseThrow(() -> new AssertionError("no predictions printed:\n" + out));
        int[] got = Arrays.stream(line.substring("SQUEEZE-PREDICTIONS ".length()).split(",")).mapToInt(Integer::parseInt).toArray();

        Loaded m = Models.loadRunnable(new Storage(new Configuration()), model);
        OnnxExportTest.Rows rows = OnnxExportTest.digits();
        float[] x = m.model().meta().normalizer().appliedRows(rows.x().clone(), rows.n());
        float[] expected = m.model().net().output(org.nd4j.linalg.factory.Nd4j.create(x, new long[]{rows.n(), rows.features()}, 'c')).dup('c').data().asFloat();
        assertEquals(rows.n(), got.length);
        for (int r = 0; r < rows.n(); r++) assertEquals(OnnxExportTest.argmax(expected, r, 10), got[r], "row " + r);
        assertTrue(Files.exists(saved.resolve("stages")), "saved in Spark ML's layout");
    }
}
