package io.squeeze.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The README's determinism promise: the same command with the same inputs and seed, on the same master and
 * partitioning, writes byte-identical files, except that the manifest differs in {@code created}, {@code command}
 * (which holds the output path) and measured times ({@code seconds}, {@code ms_per_batch} in its metrics), and
 * {@code _SUCCESS} holds the manifest's checksum. Within one JVM here; across
 * JVMs in {@code StandaloneClusterIT} and {@code KillTest}'s reruns.
 */
class DeterminismTest {
    static final String TRAIN = "csv:data/digits/digits-train.csv.gz", TEST = "csv:data/digits/digits-test.csv.gz";
    static final ObjectMapper M = new ObjectMapper();
    @TempDir
    static Path dir;
    static String model;

    @BeforeAll
    static void trainOnce() {
        model = dir.resolve("model").toString();
        assertEquals(0, CliRun.run("train", "--data", TRAIN, "--arch", "mlp:32", "--epochs", "2", "--seed", "5", "--out", model).code());
    }

    /** Every file under {@code root} by relative path, with the manifest's run-specific fields removed. */
    static Map<String, String> files(Path root) throws Exception {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                String rel = root.relativize(p).toString();
                if (rel.equals("_SUCCESS") || rel.endsWith("/_SUCCESS")) continue; // the manifest's sha256
                byte[] b = Files.readAllBytes(p);
                if (rel.endsWith("manifest.json") || rel.equals("_soft-targets.json") || rel.equals("_augment.json")) {
                    ObjectNode m = (ObjectNode) M.readTree(b);
                    assertTrue(m.has("created") && m.has("command"), rel);
                    m.remove(List.of("created", "command"));
                    withoutTimes(m);
                    out.put(rel, m.toString());
                } else {
                    out.put(rel, io.squeeze.core.Storage.sha256(b));
                }
            }
        }
        return out;
    }

    static void withoutTimes(JsonNode n) {
        if (n instanceof ObjectNode o) o.remove(List.of("seconds", "ms_per_batch"));
        n.forEach(DeterminismTest::withoutTimes);
    }

    /** Runs {@code args} twice, to {@code name}-1 and {@code name}-2, and asserts the two outputs are the same files. */
    static void twice(String name, String... args) throws Exception {
        List<Map<String, String>> runs = new ArrayList<>();
        for (int i = 1; i <= 2; i++) {
            Path out = dir.resolve(name + "-" + i);
            List<String> a = new ArrayList<>(List.of(args));
            a.addAll(List.of("--out", out.toString()));
            CliRun r = CliRun.run(a.toArray(String[]::new));
            assertEquals(0, r.code(), r.err());
            runs.add(files(out));
        }
        assertFalse(runs.get(0).isEmpty());
        if (!runs.get(0).equals(runs.get(1))) // the differing entries only: whole manifests make unreadable messages
            for (String k : runs.get(0).keySet()) assertEquals(runs.get(0).get(k), runs.get(1).get(k), name + ": " + k);
        assertEquals(runs.get(0).keySet(), runs.get(1).keySet(), name);
    }

    @Test
    void trainingWithASeedGivesTheSameWeights() throws Exception {
        twice("train", "train", "--data", TRAIN, "--arch", "mlp:32", "--epochs", "2", "--seed", "5");
    }

    @Test
    void trainingWithDropoutAndASeedGivesTheSameWeights() throws Exception {
        // dropout draws its masks from the task thread's ND4J generator: seeded per minibatch by DropoutSeedHook
        twice("train-dropout", "train", "--data", TRAIN, "--arch", "mlp:32", "--epochs", "2", "--seed", "5", "--dropout", "0.3", "--sync-every", "3");
    }

    @Test
    void pruningWithFineTuningAndQuantizingWriteTheSameFiles() throws Exception {
        twice("prune", "prune", "--model", model, "--method", "global", "--amount", "0.6", "--fine-tune-data", TRAIN, "--fine-tune-epochs", "1",
                "--with-dl4j-zip");
        twice("quantize", "quantize", "--model", model, "--calib-data", TRAIN, "--eval-data", TEST);
        twice("factorize", "factorize", "--model", model, "--energy", "0.9");
    }

    @Test
    void qatLoraLotteryAndWeightsExportWriteTheSameFiles() throws Exception {
        twice("qat", "quantize", "--model", model, "--mode", "qat", "--calib-data", TRAIN, "--data", TRAIN, "--epochs", "1");
        twice("lora", "lora", "--model", model, "--rank", "2", "--epochs", "1", "--data", TRAIN);
        twice("lottery", "lottery", "--data", TRAIN, "--test-data", TEST, "--arch", "mlp:16", "--epochs", "1", "--rounds", "1");
        twice("weights", "weights", "export", "--model", model);
    }

    @Test
    void softTargetsAndDistillationWriteTheSameFiles() throws Exception {
        twice("soft", "soft-targets", "--teacher", model, "--data", TRAIN);
        twice("distill", "distill", "--teacher", model, "--data", TRAIN, "--student", "mlp:8", "--epochs", "2", "--online", "--seed", "3");
        // a hint through a learned projection (16 wide to the teacher's 32): the projection is seeded too
        twice("distill-hint", "distill", "--soft-targets", dir.resolve("soft-1").toString(), "--data", TRAIN, "--student", "mlp:16", "--epochs", "1",
                "--hint", "0:0", "--seed", "3");
    }

    @Test
    void aKerasGraphsArchitectureTrainsTheSameAndItsImportIsStoredTheSame() throws Exception {
        // DL4J's Keras importer seeds the graph's default configuration with the clock too, and a graph's weight
        // initialisation draws from that seed: --arch FILE.h5 must take --seed's, and an import the file's
        String graph = new java.io.File("src/test/resources/keras/keras-resnet-rgb.h5").getAbsolutePath();
        String rows = "csv:" + io.squeeze.model.KerasRgbCnnTest.channelMeanCsv(dir.resolve("means.csv"), 256, 1);
        twice("keras-train", "train", "--arch", graph, "--data", rows, "--epochs", "1", "--lr", "0.01", "--seed", "3");
        twice("keras-quantize", "quantize", "--model", graph, "--calib-data", rows);
    }

    @Test
    void anotherJvmWritesTheSameFiles() throws Exception {
        // parquet-mr orders each column's encodings by identity hash codes, which differ only between JVMs
        for (String[] args : new String[][]{{"soft-targets", "--teacher", model, "--data", TRAIN},
                {"train", "--data", TRAIN, "--arch", "mlp:32", "--epochs", "2", "--seed", "5"}}) {
            Path here = dir.resolve(args[0] + "-here"), there = dir.resolve(args[0] + "-there");
            List<String> a = new ArrayList<>(List.of(args));
            a.addAll(List.of("--out", here.toString()));
            assertEquals(0, CliRun.run(a.toArray(String[]::new)).code());
            a.set(a.size() - 1, there.toString());
            var child = io.squeeze.ChildSqueeze.run(a.toArray(String[]::new));
            assertEquals(0, child.code(), child.log());
            assertEquals(files(here), files(there), args[0]);
        }
    }

    @Test
    void augmentWritesTheSameFiles() throws Exception {
        twice("augment", "augment", "--data", TRAIN, "--image", "8x8", "--copies", "2", "--max-shift", "1");
    }
}
