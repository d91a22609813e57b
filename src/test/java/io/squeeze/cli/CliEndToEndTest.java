package io.squeeze.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.artifact.Artifact;
import io.squeeze.core.Storage;
import io.squeeze.model.ModelIO;
import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** train → artifact → inspect / weights export / evaluate, through the CLI as a user runs it. */
class CliEndToEndTest {
    static final String TRAIN = "csv:data/digits/digits-train.csv.gz", TEST = "csv:data/digits/digits-test.csv.gz";
    static final ObjectMapper M = new ObjectMapper();

    @TempDir
    static Path dir;
    static String art;

    @BeforeAll
    static void train() {
        art = dir.resolve("digits").toString();
        CliRun r = CliRun.run("train", "--data", TRAIN, "--arch", "mlp:32", "--epochs", "8", "--normalize", "minmax",
                "--lr", "0.005", "--batch", "32", "--sync-every", "5", "--eval-data", TEST, "--out", art);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("1438 rows, 64 features, 10 classes, normalization minmax"), r.err());
        assertTrue(r.err().contains("epoch 8/8"), r.err());
        // progress per epoch: loss, time, rows (each training row once), rows/s, how the workers met and their shares of
        // the time fitting and waiting for each other, then the epoch's validation metrics; the first epoch (it builds
        // the cache) is a barrier stage alone, the next seven, far shorter than 10 s, one stage
        for (int e = 1; e <= 8; e++)
            assertTrue(java.util.regex.Pattern.compile("train: epoch " + e + "/8  loss [0-9.]+  [0-9.]+ s  1,438 rows  [0-9,]+ rows/s "
                    + "\\(2 workers, one barrier stage" + (e == 1 ? "" : " for epochs 2-8") + "; fitting [0-9]+ %, waiting [0-9]+ %\\)\n"
                    + "train: epoch " + e + " validation accuracy ").matcher(r.err()).find(), r.err());
        assertTrue(r.err().contains("train: epoch 8 validation accuracy "), r.err());
        assertTrue(r.out().contains("accuracy 0."), r.out());
    }

    @Test
    void evaluateWithBaselineWritesTheReport() throws Exception {
        String zip = dir.resolve("digits-copy.zip").toString();
        CliRun x = CliRun.run("export", "--model", art, "--format", "dl4j", "--out", zip);
        assertEquals(0, x.code(), x.err());
        String report = dir.resolve("r/report.json").toString();
        CliRun r = CliRun.run("evaluate", "--model", art, "--data", TEST, "--baseline", zip, "--report", report, "--batch", "50");
        assertEquals(0, r.code(), r.err());
        JsonNode j = M.readTree(Files.readAllBytes(Path.of(report)));
        for (String k : new String[]{"accuracy", "loss", "rows", "params", "nonzeros", "dense_bytes", "artifact_bytes", "rows_per_s", "top5", "per_class_accuracy", "ms_per_batch"})
            assertTrue(j.has(k), "report key " + k);
        assertEquals(359, j.get("rows").asLong());
        assertTrue(j.get("accuracy").asDouble() > 0.85, "digits accuracy " + j.get("accuracy"));
        assertTrue(j.get("top5").asDouble() >= j.get("accuracy").asDouble());
        assertEquals(64 * 32 + 32 + 32 * 10 + 10, j.get("params").asLong());
        assertEquals(j.get("params").asLong() * 4, j.get("dense_bytes").asLong());
        assertEquals(10, j.get("per_class_accuracy").size());
        assertEquals(1.0, j.get("baseline").get("agreement").asDouble());
        assertEquals(j.get("accuracy").asDouble(), j.get("baseline").get("accuracy").asDouble());
        // train --eval-data recorded the same accuracy the evaluate command measures, and its --sync-every
        JsonNode manifest = M.readTree(Files.readAllBytes(Path.of(art, "manifest.json")));
        assertEquals(j.get("accuracy").asDouble(), manifest.get("metrics").get("accuracy").asDouble(), 0.0);
        assertEquals(5, manifest.get("config").get("training").get("sync_every").asInt(), manifest.toString());
        assertTrue(r.out().contains("accuracy   " + String.format(java.util.Locale.ROOT, "%.4f", j.get("accuracy").asDouble())), r.out());
        // the report is not overwritten without --overwrite
        CliRun again = CliRun.run("evaluate", "--model", art, "--data", TEST, "--report", report);
        assertEquals(2, again.code());
        assertTrue(again.lastErr().endsWith("report.json exists; pass --overwrite to replace it"), again.lastErr());
    }

    @Test
    void inspectListsLayers() throws Exception {
        CliRun r = CliRun.run("inspect", "--model", art, "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = M.readTree(r.out());
        assertEquals("artifact", j.get("kind").asText());
        assertEquals(64, j.get("num_features").asInt());
        assertEquals("minmax", j.get("normalization").asText());
        JsonNode l0 = j.get("layers").get(0);
        assertEquals("DenseLayer", l0.get("type").asText());
        assertEquals(64 * 32 + 32, l0.get("params").asLong());
        assertEquals(64, l0.get("shapes").get("W").get(0).asInt());
        assertEquals(32, l0.get("shapes").get("W").get(1).asInt());
        assertEquals("OutputLayer", j.get("layers").get(1).get("type").asText());
        assertTrue(l0.get("stored_bytes").asLong() > 0);
        CliRun table = CliRun.run("inspect", "--model", art);
        assertEquals(0, table.code());
        assertTrue(table.out().contains("W[64,32] b[1,32]"), table.out());
        assertTrue(table.out().contains("total: 2410 params"), table.out());
    }

    @Test
    void weightsExportWritesNpyInDl4jShapes() throws Exception {
        String out = dir.resolve("weights").toString();
        CliRun r = CliRun.run("weights", "export", "--model", art, "--out", out);
        assertEquals(0, r.code(), r.err());
        JsonNode idx = M.readTree(Files.readAllBytes(Path.of(out, "index.json")));
        assertEquals(4, idx.size());
        JsonNode w = idx.get(0);
        assertEquals("0", w.get("layer").asText());
        assertEquals("W", w.get("param").asText());
        assertEquals(64, w.get("shape").get(0).asInt());
        byte[] npy = Files.readAllBytes(Path.of(out, w.get("file").asText()));
        int hlen = (npy[8] & 0xff) | (npy[9] & 0xff) << 8;
        ByteBuffer b = ByteBuffer.wrap(npy, 10 + hlen, npy.length - 10 - hlen).order(ByteOrder.LITTLE_ENDIAN);
        MultiLayerNetwork net = Artifact.load(new Storage(new Configuration()), art).model().net();
        var W = net.getLayer(0).getParam("W");
        for (int i = 0; i < 64; i++) for (int j = 0; j < 32; j++) assertEquals(W.getFloat(i, j), b.getFloat(), "W[" + i + "," + j + "]");
        assertEquals(2, CliRun.run("weights", "export", "--model", art, "--out", out).code());
    }

    @Test
    void trainToZipAndLenet5OnImages() throws Exception {
        String zip = dir.resolve("m.zip").toString();
        CliRun small = CliRun.run("train", "--data", TRAIN, "--arch", "lenet5", "--epochs", "1", "--out", zip);
        assertEquals(2, small.code());
        assertEquals("squeeze: --arch lenet5 needs images of at least 12x12, got 8x8", small.lastErr());
        assertFalse(Files.exists(Path.of(zip)));
        String jz = dir.resolve("json.zip").toString();
        CliRun json = CliRun.run("train", "--data", TRAIN, "--arch", "conf/examples/digits-mlp-32.json", "--epochs", "1", "--out", jz);
        assertEquals(0, json.code(), json.err());
        assertEquals(64 * 32 + 32 + 32 * 10 + 10, ModelIO.loadFile(new Storage(new Configuration()), new org.apache.hadoop.fs.Path(jz)).net().numParams());
        CliRun wrong = CliRun.run("train", "--data", TRAIN, "--arch", "conf/examples/mnist-lenet-300-100.json", "--epochs", "1", "--out", jz + "2");
        assertEquals(2, wrong.code());
        assertEquals("squeeze: --arch conf/examples/mnist-lenet-300-100.json takes 784 inputs but the data has 64 features", wrong.lastErr());
        Path idx = Files.createDirectories(dir.resolve("idx"));
        io.squeeze.spark.SparkDataTest.writeIdx(idx, "train", 40, 14, true);
        CliRun r = CliRun.run("train", "--data", "idx:" + idx, "--arch", "lenet5", "--epochs", "1", "--batch", "8", "--out", zip);
        assertEquals(0, r.code(), r.err());
        var m = ModelIO.loadFile(new Storage(new Configuration()), new org.apache.hadoop.fs.Path(zip));
        assertEquals(196, m.meta().numFeatures());
        assertArrayEquals(new int[]{14, 14, 1}, m.meta().inputShape());
        assertEquals(7, m.net().getnLayers());
        assertEquals("idx:" + idx + " (train)", m.meta().trainedOn());
    }

    @Test
    void quickstartRunsTheWholePipeline() throws Exception {
        String out = dir.resolve("qs").toString();
        CliRun r = CliRun.run("quickstart", "--epochs", "3", "--out", out);
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.exists(Path.of(out, "model", "_SUCCESS")));
        assertTrue(Files.exists(Path.of(out, "dense.zip")));
        JsonNode rep = M.readTree(Files.readAllBytes(Path.of(out, "report.json")));
        assertEquals(1.0, rep.get("dense").get("baseline").get("agreement").asDouble());
        assertTrue(rep.get("pruned").get("nonzeros").asLong() < 0.3 * rep.get("pruned").get("params").asLong());
        assertTrue(Files.exists(Path.of(out, "pruned", "_SUCCESS")));
        // sizes are the whole artifact directory on disk; without --with-dl4j-zip there is no model.zip
        assertTrue(Files.notExists(Path.of(out, "pruned", "model.zip")));
        assertEquals(io.squeeze.TestArtifacts.directoryBytes(Path.of(out, "pruned")), rep.get("pruned").get("artifact_bytes").asLong());
        assertTrue(Files.exists(Path.of(out, "lowrank", "_SUCCESS")));
        assertTrue(rep.get("lowrank").get("params").asLong() < rep.get("dense").get("params").asLong());
        assertTrue(r.out().contains("low-rank (energy 0.9, fine-tuned)"), r.out());
        assertTrue(r.out().contains("dense artifact ") && r.out().contains("pruned 80% (global, fine-tuned)"), r.out());
        // quickstart runs the jobs of the commands themselves: each artifact records its job's config
        for (String[] k : new String[][]{{"model", "TrainJob$Config"}, {"student", "DistillJob$Config"}, {"pruned", "PruneJob$Config"}, {"lowrank", "FactorizeJob$Config"}, {"int8", "QuantizeJob$Config"}}) {
            var m = io.squeeze.artifact.Artifact.load(new Storage(new Configuration()), Path.of(out, k[0]).toString()).manifest();
            assertEquals(k[1], io.squeeze.spark.Jobs.fromMap(m.config(), RerunCommand.types(), k[0]).getClass().getName().replaceAll(".*\\.", ""));
        }
        assertEquals(0, CliRun.run("quickstart", "--epochs", "1", "--out", out).code(), "reruns replace their own output");
    }

    @Test
    void helpAndVersion() {
        for (String c : new String[]{"train", "evaluate", "inspect", "quickstart"}) {
            CliRun r = CliRun.run(c, "--help");
            assertEquals(0, r.code());
            assertTrue(r.out().contains("Usage: squeeze " + c), r.out());
        }
        assertEquals(0, CliRun.run("weights", "export", "--help").code());
        CliRun v = CliRun.run("--version");
        assertTrue(v.out().startsWith("squeeze 0.1.0-SNAPSHOT"), v.out());
        assertEquals(2, CliRun.run().code());
    }
}
