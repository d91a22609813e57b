package io.squeeze.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.artifact.Artifact;
import io.squeeze.core.Storage;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** {@code --local} (the work in this process) gives what the executors give, through the same Execution code. */
class LocalExecutionTest {
    static final String TRAIN = "csv:data/digits/digits-train.csv.gz", TEST = "csv:data/digits/digits-test.csv.gz";
    static final String DENSE = "src/test/resources/fixtures/artifacts-v1/dense", INT8 = "src/test/resources/fixtures/artifacts-v1/pruned-int8-static";
    static final Storage ST = new Storage(new Configuration());
    @TempDir
    static Path dir;

    @Test
    void calibrationInProcessEqualsCalibrationOnExecutors() {
        for (String observer : new String[]{"minmax", "histogram"}) {
            String spark = dir.resolve("q-spark-" + observer).toString(), local = dir.resolve("q-local-" + observer).toString();
            assertEquals(0, CliRun.run("quantize", "--model", DENSE, "--observer", observer, "--calib-data", TRAIN, "--out", spark).code());
            CliRun r = CliRun.run("quantize", "--model", DENSE, "--observer", observer, "--calib-data", TRAIN, "--local", "--out", local);
            assertEquals(0, r.code(), r.err());
            assertEquals(io.squeeze.TestArtifacts.packed(spark), io.squeeze.TestArtifacts.packed(local), observer + ": the same qparams and integers");
            assertEquals(false, Artifact.load(ST, local).manifest().config().get("distributed"));
        }
    }

    static double accuracy(String model) throws Exception {
        Path r = dir.resolve("acc-" + Path.of(model).getFileName() + ".json");
        CliRun e = CliRun.run("evaluate", "--model", model, "--data", TEST, "--report", r.toString(), "--overwrite");
        assertEquals(0, e.code(), e.err());
        return new ObjectMapper().readTree(Files.readAllBytes(r)).get("accuracy").asDouble();
    }

    @Test
    void trainingInProcessLearnsAsWellAsTrainingOnExecutors() throws Exception {
        String spark = dir.resolve("t-spark").toString(), local = dir.resolve("t-local").toString();
        String[] train = {"train", "--data", TRAIN, "--arch", "mlp:32", "--epochs", "8", "--normalize", "minmax", "--lr", "0.005"};
        assertEquals(0, CliRun.run(cat(train, "--out", spark)).code());
        CliRun r = CliRun.run(cat(train, "--local", "--out", local));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("train: epoch 8/8") && r.err().contains("(in process)"), r.err());
        double a = accuracy(spark), b = accuracy(local);
        assertTrue(a > 0.9 && b > 0.9, "accuracy on executors " + a + ", in process " + b);
        assertEquals(a, b, 0.05, "parameter averaging and one in-process fit reach the same accuracy within 0.05");
        assertEquals(true, ((java.util.Map<?, ?>) Artifact.load(ST, local).manifest().config().get("training")).get("local"));
        // the same command twice in process: the same weights
        String again = dir.resolve("t-local-again").toString();
        assertEquals(0, CliRun.run(cat(train, "--local", "--out", again)).code());
        assertEquals(io.squeeze.TestArtifacts.packed(local), io.squeeze.TestArtifacts.packed(again));
    }

    @Test
    void everyJobThatTrainsTrainsInProcessWithLocal() throws Exception {
        String model = dir.resolve("base").toString();
        assertEquals(0, CliRun.run("train", "--data", TRAIN, "--arch", "mlp:32", "--epochs", "6", "--normalize", "minmax", "--lr", "0.005",
                "--local", "--out", model).code());
        String soft = dir.resolve("soft").toString();
        assertEquals(0, CliRun.run("soft-targets", "--teacher", model, "--data", TRAIN, "--out", soft).code());
        String[][] jobs = {
                {"prune", "--model", model, "--method", "global", "--amount", "0.7", "--fine-tune-data", TRAIN, "--fine-tune-epochs", "2"},
                {"factorize", "--model", model, "--rank", "8", "--fine-tune-data", TRAIN, "--fine-tune-epochs", "2"},
                {"quantize", "--model", model, "--mode", "qat", "--data", TRAIN, "--calib-data", TRAIN, "--epochs", "2"},
                {"lora", "--model", model, "--rank", "4", "--epochs", "2", "--data", TRAIN, "--merge"},
                {"distill", "--soft-targets", soft, "--data", TRAIN, "--student", "mlp:16", "--epochs", "4", "--normalize", "minmax", "--lr", "0.005"},
                {"distill", "--online", "--teacher", model, "--data", TRAIN, "--student", "mlp:16", "--epochs", "4", "--normalize", "minmax", "--lr", "0.005"},
                {"distill", "--soft-targets", soft, "--data", TRAIN, "--student", "mlp:32", "--epochs", "4", "--normalize", "minmax", "--lr", "0.005",
                        "--batch", "32", "--hint", "0:0", "--hint-weight", "0.05"},
        };
        for (int i = 0; i < jobs.length; i++) {
            String[] job = jobs[i];
            String out = dir.resolve("local-" + i + "-" + job[0]).toString();
            CliRun r = CliRun.run(cat(job, "--local", "--out", out));
            assertEquals(0, r.code(), String.join(" ", job) + ": " + r.err());
            assertTrue(r.err().contains("(in process)"), String.join(" ", job) + " trains in process: " + r.err());
            assertFalse(r.err().contains("epoch") && r.err().lines().anyMatch(l -> l.startsWith("train: epoch") && !l.endsWith("(in process)")),
                    "no epoch on executors: " + r.err());
            double acc = accuracy(out);
            assertTrue(acc > 0.8, String.join(" ", job) + ": accuracy " + acc);
        }
        String lottery = dir.resolve("lottery-local").toString();
        CliRun l = CliRun.run("lottery", "--data", TRAIN, "--test-data", TEST, "--arch", "mlp:16", "--epochs", "3", "--rounds", "1", "--normalize", "minmax", "--lr", "0.005", "--local",
                "--out", lottery);
        assertEquals(0, l.code(), l.err());
        assertTrue(l.err().contains("(in process)"), l.err());
        double ticket = accuracy(lottery + "/ticket");
        assertTrue(ticket > 0.7, "the ticket's accuracy " + ticket);
    }

    @Test
    void softTargetsAndAugmentInProcessWriteTheRowsTheExecutorsWrite() {
        var spark = io.squeeze.TestSpark.get();
        for (String[] job : new String[][]{{"soft-targets", "--teacher", DENSE, "--data", TRAIN}, {"soft-targets", "--teacher", DENSE, "--data", TEST,
                "--top-k", "3"}, {"augment", "--data", TRAIN, "--image", "8x8", "--copies", "3", "--max-shift", "1"}}) {
            String name = String.join("-", job).replaceAll("[^a-z0-9-]", ""), onSpark = dir.resolve("s-" + name.hashCode()).toString(),
                    local = dir.resolve("l-" + name.hashCode()).toString();
            assertEquals(0, CliRun.run(cat(job, "--out", onSpark)).code());
            CliRun r = CliRun.run(cat(job, "--local", "--out", local));
            assertEquals(0, r.code(), r.err());
            var a = spark.read().parquet(onSpark).collectAsList(); // parts in partition order: the input's row order
            var b = spark.read().parquet(local).collectAsList();
            assertTrue(a.size() >= 359, name);
            assertEquals(a, b, name + ": the same rows in the same order");
            assertEquals(java.util.List.of(spark.read().parquet(onSpark).schema()), java.util.List.of(spark.read().parquet(local).schema()));
        }
    }

    static String[] cat(String[] a, String... b) {
        return java.util.stream.Stream.concat(java.util.Arrays.stream(a), java.util.Arrays.stream(b)).toArray(String[]::new);
    }

    @Test
    void evaluationInProcessEqualsEvaluationOnExecutors() throws Exception {
        ObjectMapper m = new ObjectMapper();
        for (String model : new String[]{DENSE, INT8}) {
            Path a = dir.resolve("e-spark.json"), b = dir.resolve("e-local.json");
            assertEquals(0, CliRun.run("evaluate", "--model", model, "--baseline", DENSE, "--data", TEST, "--report", a.toString(), "--overwrite").code());
            CliRun r = CliRun.run("evaluate", "--model", model, "--baseline", DENSE, "--data", TEST, "--local", "--report", b.toString(), "--overwrite");
            assertEquals(0, r.code(), r.err());
            JsonNode x = m.readTree(Files.readAllBytes(a)), y = m.readTree(Files.readAllBytes(b));
            for (String k : new String[]{"rows", "accuracy", "top5"}) assertEquals(x.get(k), y.get(k), model + " " + k);
            assertEquals(x.get("loss").asDouble(), y.get("loss").asDouble(), 1e-9, "the loss sum only changes its summation order");
            assertEquals(x.get("baseline").get("agreement"), y.get("baseline").get("agreement"));
            if (model.equals(INT8)) assertEquals(x.get("quantization"), y.get("quantization"));
        }
    }
}
