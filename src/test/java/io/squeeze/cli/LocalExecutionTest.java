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
        CliRun qat = CliRun.run("quantize", "--model", DENSE, "--mode", "qat", "--data", TRAIN, "--calib-data", TRAIN, "--local", "--out",
                dir.resolve("never").toString());
        assertEquals(2, qat.code());
        assertEquals("squeeze: quantize --mode qat trains on Spark; --local applies to static calibration", qat.lastErr());
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
