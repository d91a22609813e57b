package io.squeeze.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.artifact.Artifact;
import io.squeeze.model.Lora;
import io.squeeze.quantize.NormalFloat4;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** NF4 bases (quantize --dtype nf4) and QLoRA (lora over an NF4 base, --base-quant nf4) as a user runs them, on the UCI digits. */
class QloraCliTest {
    static final String TRAIN = QuantizeCliTest.TRAIN, TEST = QuantizeCliTest.TEST;
    static final ObjectMapper M = new ObjectMapper();
    @TempDir
    static Path dir;
    static String dense;

    @BeforeAll
    static void train() {
        dense = CliRun.digitsMlp(dir.resolve("dense").toString());
    }

    static JsonNode manifest(String art) throws Exception {
        return M.readTree(Files.readAllBytes(Path.of(art, "manifest.json")));
    }

    @Test
    void anNf4BaseIsAboutFourBitsAWeightAndExportsItsLevelsAndMaxima() throws Exception {
        String out = dir.resolve("nf4").toString();
        CliRun r = CliRun.run("quantize", "--model", dense, "--dtype", "nf4", "--eval-data", TEST, "--out", out);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("nf4 weights"), r.out());
        JsonNode m = manifest(out);
        double acc = m.get("metrics").get("accuracy").asDouble(), base = m.get("metrics").get("baseline").get("accuracy").asDouble();
        assertEquals(base, acc, 0.03, "nf4 keeps the accuracy");
        Artifact a = Artifact.load(out);
        assertEquals(io.squeeze.quantize.QuantizedTensor.Format.NF4, a.quant().weights().get(0).format());
        assertTrue(CliRun.run("inspect", "--model", out).out().contains("nf4 deflate"));
        // the packed weights of the 64x128 layer: 4 bits a weight plus a byte a block, DEFLATEd
        JsonNode tensors = M.readTree(Files.readAllBytes(Path.of(out, "packed/tensors.json"))).get("tensors");
        long w0 = 0;
        for (JsonNode t : tensors) if (t.get("layer").asInt() == 0 && t.get("param").asText().equals("W")) w0 = t.get("length").asLong();
        assertTrue(w0 < 64 * 128 * 4.3 / 8 + 200 && w0 > 64 * 128 * 3.0 / 8, "layer 0 W stored in " + w0 + " bytes");
        // weights export: codes, each block's maximum and the levels rebuild W exactly
        String npy = dir.resolve("nf4-npy").toString();
        assertEquals(0, CliRun.run("weights", "export", "--model", out, "--out", npy).code());
        JsonNode e = M.readTree(Files.readAllBytes(Path.of(npy, "index.json"))).get(0);
        assertEquals("nf4", e.get("dtype").asText());
        assertEquals(64, e.get("block_size").asInt());
        byte[] codes = CodebookCliTest.npyBody(Files.readAllBytes(Path.of(npy, e.get("file").asText())));
        float[] absmax = CodebookCliTest.npyFloats(Files.readAllBytes(Path.of(npy, e.get("absmax").asText())));
        float[] levels = CodebookCliTest.npyFloats(Files.readAllBytes(Path.of(npy, e.get("levels").asText())));
        assertArrayEquals(NormalFloat4.LEVELS, levels);
        float[] w = a.model().net().getLayer(0).getParam("W").dup('c').data().asFloat();
        for (int i = 0; i < w.length; i++) assertEquals(w[i], levels[codes[i]] * absmax[i / 64], 0f, "weight " + i);
    }

    @Test
    void qloraStartsAtTheNf4BaseTrainsOnlyTheAdaptersAndMergesOrReferencesTheBase() throws Exception {
        // the adapted network starts exactly at the NF4 base: B = 0
        var net = io.squeeze.artifact.Models.loadRunnable(io.squeeze.core.Storage.withSparkDefaults(), dense).model().net();
        java.util.Map<String, Object> bytes = new java.util.HashMap<>();
        var nf4 = io.squeeze.spark.LoraJobAccess.nf4Base(net, bytes);
        var adapted = Lora.attach(nf4, new java.util.TreeSet<>(java.util.Set.of(0, 1)), 4, 8, 1);
        var x = org.nd4j.linalg.factory.Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 5, 64);
        assertEquals(nf4.output(x), adapted.output(x));
        assertTrue((Long) bytes.get("base_weights_nf4_bytes") * 7 < (Long) bytes.get("base_weights_fp32_bytes"), bytes.toString());

        String merged = dir.resolve("qlora-merged").toString();
        CliRun r = CliRun.run("lora", "--model", dense, "--base-quant", "nf4", "--rank", "4", "--data", TRAIN, "--epochs", "2", "--lr", "0.005",
                "--merge", "--eval-data", TEST, "--out", merged);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("base weights in NF4"), r.err());
        JsonNode m = manifest(merged);
        assertEquals("nf4", m.get("config").get("base_quant").asText().toLowerCase());
        assertTrue(m.get("metrics").get("accuracy").asDouble() > 0.9, m.get("metrics").toString());

        // two steps: an NF4 base artifact, then adapters that reference it by sha256 and hold only A and B
        String base = dir.resolve("nf4-base").toString(), adapters = dir.resolve("qlora-adapters").toString();
        assertEquals(0, CliRun.run("quantize", "--model", dense, "--dtype", "nf4", "--out", base).code());
        byte[] baseBlob = Files.readAllBytes(Path.of(base, "packed/tensors.bin"));
        r = CliRun.run("lora", "--model", base, "--rank", "4", "--data", TRAIN, "--epochs", "2", "--lr", "0.005", "--eval-data", TEST, "--out", adapters);
        assertEquals(0, r.code(), r.err());
        JsonNode am = manifest(adapters);
        assertEquals(Artifact.load(base).model().sha256(), am.get("source_sha256").asText());
        assertArrayEquals(baseBlob, Files.readAllBytes(Path.of(base, "packed/tensors.bin")), "the base is untouched");
        String rep = dir.resolve("qlora-adapters.json").toString();
        assertEquals(0, CliRun.run("evaluate", "--model", adapters, "--data", TEST, "--report", rep).code());
        assertEquals(am.get("metrics").get("accuracy").asDouble(), M.readTree(Files.readAllBytes(Path.of(rep))).get("accuracy").asDouble(), 1e-9);

        CliRun bad = CliRun.run("lora", "--model", dense, "--base-quant", "nf4", "--rank", "4", "--data", TRAIN, "--epochs", "1",
                "--out", dir.resolve("never").toString());
        assertEquals(2, bad.code());
        assertTrue(bad.lastErr().contains("lora --base-quant nf4 writes the merged model: add --merge"), bad.err());
        assertFalse(Files.exists(dir.resolve("never")));
    }
}
