package io.squeeze.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.TestArtifacts;
import io.squeeze.artifact.Artifact;
import io.squeeze.core.Storage;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Commands as {@code spark-submit --master yarn} jobs on a MiniYARNCluster: in client mode (the driver here, the
 * application master and executors in containers) and in cluster mode (the driver in a container too), each giving
 * the same result as the same command on local[2].
 */
class YarnClusterIT {
    static final Path BASE = SparkHome.BASE;
    static final String TRAIN = "csv:" + BASE.resolve("data/digits/digits-train.csv.gz"), TEST = "csv:" + BASE.resolve("data/digits/digits-test.csv.gz");
    static final Path FIXTURES = BASE.resolve("src/test/resources/fixtures/artifacts-v1");
    static final ObjectMapper M = new ObjectMapper();
    static YarnCluster yarn;
    @TempDir
    static Path dir;

    @BeforeAll
    static void start() throws Exception {
        yarn = new YarnCluster();
    }

    @AfterAll
    static void stop() {
        if (yarn != null) yarn.close();
    }

    static SparkHome.Run submit(List<String> options, String... args) throws Exception {
        SparkHome.Run r = yarn.submit(options, args);
        assertEquals(0, r.code(), "spark-submit --master yarn " + String.join(" ", options) + " " + String.join(" ", args) + "\n" + r.err());
        return r;
    }

    @Test
    void inClientModeAQuantizedModelEvaluatesAndTrainingRunsAsLocally() throws Exception {
        String model = FIXTURES.resolve("pruned-int8-static").toString();
        Path onYarn = dir.resolve("eval-yarn.json"), onLocal = dir.resolve("eval-local.json");
        String out = dir.resolve("trained-yarn").toString(), lo = dir.resolve("trained-local").toString();
        String[] train = {"train", "--data", TRAIN, "--arch", "mlp:32", "--epochs", "3", "--normalize", "minmax", "--lr", "0.01", "--batch", "32",
                "--sync-every", "5", "--eval-data", TEST};
        // both commands in one application (squeeze batch): a YARN application's containers cost more to start than these jobs
        Path batch = Files.writeString(dir.resolve("evaluate-train.txt"), StandaloneClusterIT.batchText(
                new String[]{"evaluate", "--model", model, "--data", TEST, "--report", onYarn.toString()}, StandaloneClusterIT.append(train, "--out", out)));
        SparkHome.Run t = submit(List.of("--conf", "spark.app.name=squeeze-yarn-evaluate-train"), "batch", "file:" + batch);
        assertTrue(t.err().contains("batch: 2 commands done"), t.err());
        assertTrue(yarn.finalStates().contains("squeeze-yarn-evaluate-train SUCCEEDED"), yarn.finalStates().toString());
        StandaloneClusterIT.local("evaluate", "--model", model, "--data", TEST, "--report", onLocal.toString());
        JsonNode y = M.readTree(Files.readAllBytes(onYarn)), l = M.readTree(Files.readAllBytes(onLocal));
        for (String k : new String[]{"rows", "accuracy", "loss", "top5"}) assertEquals(l.get(k), y.get(k), k);

        assertTrue(t.err().contains("epoch 3/3"), t.err());
        assertTrue(StandaloneClusterIT.BARRIER_EPOCH.matcher(t.err()).find(), "every round of an epoch in one barrier stage on YARN's executors: " + t.err());
        assertTrue(t.err().contains("train: epoch 3/3") && t.err().contains(" workers, one barrier stage for epochs 2-3; fitting "),
                "the short epochs after the first in one barrier stage, validated each: " + t.err());
        assertTrue(t.err().contains("train: epoch 3 validation accuracy"), t.err());
        StandaloneClusterIT.local(StandaloneClusterIT.append(train, "--out", lo));
        Storage st = new Storage(new Configuration());
        double ay = (Double) Artifact.load(st, out).manifest().metrics().get("accuracy"), al = (Double) Artifact.load(st, lo).manifest().metrics().get("accuracy");
        assertTrue(ay > 0.8, "a trained model: " + ay);
        assertEquals(al, ay, 0.1, "parameter averaging on YARN and on local[2]");
    }

    @Test
    void inClusterModeTheDriverRunsInAContainerAndWritesTheLocalResult() throws Exception {
        String dense = FIXTURES.resolve("dense").toString();
        String y = dir.resolve("int8-yarn-cluster").toString(), l = dir.resolve("int8-local").toString();
        String[] job = {"quantize", "--model", dense, "--mode", "static", "--bits", "8", "--calib-data", TRAIN, "--eval-data", TEST};
        submit(List.of("--deploy-mode", "cluster", "--conf", "spark.app.name=squeeze-yarn-cluster-quantize"), StandaloneClusterIT.append(job, "--out", y));
        assertTrue(yarn.finalStates().contains("squeeze-yarn-cluster-quantize SUCCEEDED"), yarn.finalStates().toString());
        StandaloneClusterIT.local(StandaloneClusterIT.append(job, "--out", l));
        assertEquals(TestArtifacts.packed(l), TestArtifacts.packed(y));
        Storage st = new Storage(new Configuration());
        assertEquals(Artifact.load(st, l).manifest().metrics().get("accuracy"), Artifact.load(st, y).manifest().metrics().get("accuracy"));
    }
}
