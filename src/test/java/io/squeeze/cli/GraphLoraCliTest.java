package io.squeeze.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.squeeze.artifact.Artifact;
import io.squeeze.core.Storage;
import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * LoRA and QLoRA on a ResNet (no hidden dense layer, so every convolution gets an adapter) as a user runs them on the
 * UCI digits: adapter artifacts read back as the graph the same seeded command merges; QLoRA over an NF4 graph artifact
 * (adapters referencing it by sha256) and with {@code --base-quant nf4 --merge}.
 */
class GraphLoraCliTest {
    static final String TRAIN = QuantizeCliTest.TRAIN, TEST = QuantizeCliTest.TEST;
    static final List<String> CONVS = List.of("s1b1_conv1", "s1b1_conv2", "s2b1_conv1", "s2b1_conv2", "s2b1_proj", "s3b1_conv1", "s3b1_conv2",
            "s3b1_proj", "stem");
    @TempDir
    static Path dir;
    static String resnet;

    @BeforeAll
    static void trainResNet() {
        resnet = dir.resolve("resnet.zip").toString();
        CliRun r = CliRun.run("train", "--data", TRAIN, "--arch", "resnet:1", "--epochs", "1", "--lr", "0.003", "--seed", "3", "--out", resnet);
        assertEquals(0, r.code(), r.err());
    }

    static JsonNode manifest(String art) throws Exception {
        return QuantizeCliTest.M.readTree(Files.readAllBytes(Path.of(art, "manifest.json")));
    }

    static String[] lora(String model, String out, String... more) {
        return CliRun.with(new String[]{"lora", "--model", model, "--rank", "2", "--alpha", "4", "--data", TRAIN, "--epochs", "1", "--lr", "0.01",
                "--eval-data", TEST, "--out", out}, more);
    }

    static ComputationGraph graph(String model) {
        return io.squeeze.artifact.Models.load(new Storage(new Configuration()), model, true).graph();
    }

    @Test
    void convolutionAdaptersReadBackAsTheMergedGraph() throws Exception {
        String adapters = dir.resolve("lora").toString(), merged = dir.resolve("lora-merged.zip").toString();
        CliRun a = CliRun.run(lora(resnet, adapters));
        assertEquals(0, a.code(), a.err());
        assertTrue(a.out().contains("on " + CONVS + "; adapter artifact"), a.out());
        JsonNode m = manifest(adapters);
        // A [nIn·kH·kW, 2] and B [2, nOut] per convolution: stem 1·3·3 → 16, s3b1_conv2 64·3·3 → 64
        long trainable = 0;
        for (var l : m.get("layers")) if (l.get("method").asText().equals("lora")) trainable += l.get("params").asLong();
        assertEquals(m.get("metrics").get("trainable_params").asLong(), trainable);
        for (var l : m.get("layers")) {
            if (l.get("name").asText().equals("stem")) assertEquals(2 * (9 + 16), l.get("params").asLong());
            if (l.get("name").asText().equals("s3b1_conv2")) assertEquals(2 * (576 + 64), l.get("params").asLong());
            if (l.get("method").asText().equals("lora")) assertEquals("LoraConv", l.get("type").asText());
        }
        CliRun z = CliRun.run(lora(resnet, merged, "--merge"));
        assertEquals(0, z.code(), z.err());
        ComputationGraph back = Artifact.load(new Storage(new Configuration()), adapters).model().graph(), mg = graph(merged), base = graph(resnet);
        assertEquals(mg.params(), back.params(), "the seeded command gives the same adapters; read back they are the merged graph");
        assertEquals(base.getLayer("output").params(), mg.getLayer("output").params(), "the output layer is frozen");
        for (String v : CONVS) {
            var delta = mg.getLayer(v).getParam("W").sub(base.getLayer(v).getParam("W"));
            assertTrue(delta.amaxNumber().doubleValue() > 0, v + " trained");
            // the update of each kernel, as a [nOut, nIn·kH·kW] matrix, has rank ≤ 2
            var flat = delta.reshape('c', delta.size(0), delta.length() / delta.size(0));
            double[] sv = singularValues(flat);
            assertTrue(sv.length < 3 || sv[2] < 1e-4 * sv[0], v + "'s update has rank " + java.util.Arrays.toString(sv));
        }
        String rep = dir.resolve("lora.json").toString();
        assertEquals(0, CliRun.run("evaluate", "--model", adapters, "--data", TEST, "--report", rep).code());
        assertEquals(m.get("metrics").get("accuracy").asDouble(), QuantizeCliTest.M.readTree(Files.readAllBytes(Path.of(rep))).get("accuracy").asDouble(), 1e-9);
    }

    private static double[] singularValues(org.nd4j.linalg.api.ndarray.INDArray a) {
        var m = new org.apache.commons.math3.linear.Array2DRowRealMatrix(a.castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE).toDoubleMatrix());
        return new org.apache.commons.math3.linear.SingularValueDecomposition(m).getSingularValues();
    }

    @Test
    void qloraOverAnNf4GraphArtifactAndWithBaseQuant() throws Exception {
        Storage st = new Storage(new Configuration());
        // route 1: --base-quant nf4 --merge, the base's weights NF4 under the adapters (frozen layers stay NF4 values)
        String merged = dir.resolve("qlora-merged").toString();
        CliRun r = CliRun.run(lora(resnet, merged, "--base-quant", "nf4", "--merge"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("lora: base weights in NF4"), r.err());
        JsonNode m = manifest(merged);
        assertTrue(m.get("metrics").get("base_weights_nf4_bytes").asLong() * 7 < m.get("metrics").get("base_weights_fp32_bytes").asLong(), m.get("metrics").toString());
        var nf4 = io.squeeze.spark.LoraJob.nf4Base(graph(resnet), new java.util.HashMap<>());
        assertEquals(nf4.getLayer("output").getParam("W"), graph(merged).getLayer("output").getParam("W"), "the frozen output layer holds NF4 values");
        assertNotEquals(graph(resnet).getLayer("output").getParam("W"), nf4.getLayer("output").getParam("W"));

        // route 2: an NF4 graph artifact, then adapters over it that reference it by sha256
        String base = dir.resolve("nf4").toString(), adapters = dir.resolve("qlora-adapters").toString();
        CliRun q = CliRun.run("quantize", "--model", resnet, "--dtype", "nf4", "--eval-data", TEST, "--out", base);
        assertEquals(0, q.code(), q.err());
        assertTrue(q.out().contains("nf4 weights, "), "weight-only: float arithmetic on the NF4 values, no integer path: " + q.out());
        byte[] blob = Files.readAllBytes(Path.of(base, "packed/tensors.bin"));
        r = CliRun.run(lora(base, adapters));
        assertEquals(0, r.code(), r.err());
        JsonNode am = manifest(adapters);
        Artifact nf4Art = Artifact.load(st, base);
        assertEquals(nf4Art.model().sha256(), am.get("source_sha256").asText());
        assertArrayEquals(blob, Files.readAllBytes(Path.of(base, "packed/tensors.bin")), "the base is untouched");
        var back = Artifact.load(st, adapters).model().graph();
        assertEquals(nf4Art.model().graph().getLayer("output").getParam("W"), back.getLayer("output").getParam("W"), "over the dequantized NF4 weights");
        String rep = dir.resolve("qlora.json").toString();
        assertEquals(0, CliRun.run("evaluate", "--model", adapters, "--data", TEST, "--report", rep).code());
        assertEquals(am.get("metrics").get("accuracy").asDouble(), QuantizeCliTest.M.readTree(Files.readAllBytes(Path.of(rep))).get("accuracy").asDouble(), 1e-9);

        // refused before any Spark work, nothing written
        String never = dir.resolve("never").toString();
        CliRun bad = CliRun.run(lora(base, never, "--merge"));
        assertEquals(2, bad.code());
        assertTrue(bad.lastErr().contains("is quantized") && bad.lastErr().contains("merging writes floats"), bad.err());
        String qzip = dir.resolve("nf4.zip").toString();
        assertEquals(0, CliRun.run("quantize", "--model", resnet, "--dtype", "nf4", "--out", qzip).code());
        bad = CliRun.run(lora(qzip, never));
        assertEquals(2, bad.code());
        assertTrue(bad.lastErr().contains("is a quantized graph's DL4J zip"), bad.err());
        assertFalse(Files.exists(Path.of(never)));
    }
}
