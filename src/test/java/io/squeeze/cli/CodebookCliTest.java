package io.squeeze.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.artifact.Artifact;
import io.squeeze.core.TensorKey;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** quantize --mode codebook (weight sharing, Deep Compression) as a user runs it, on the UCI digits: pruned, shared, fine-tuned. */
class CodebookCliTest {
    static final String TRAIN = QuantizeCliTest.TRAIN, TEST = QuantizeCliTest.TEST;
    static final ObjectMapper M = new ObjectMapper();
    @TempDir
    static Path dir;
    static String dense, pruned;

    @BeforeAll
    static void trainAndPrune() {
        dense = CliRun.digitsMlp(dir.resolve("dense").toString());
        pruned = dir.resolve("pruned").toString();
        CliRun r = CliRun.run("prune", "--model", dense, "--method", "global", "--amount", "0.8", "--fine-tune-data", TRAIN, "--fine-tune-epochs", "2",
                "--out", pruned);
        assertEquals(0, r.code(), r.err());
    }

    static Set<Float> kept(Artifact a, int layer) {
        float[] w = a.model().net().getLayer(layer).getParam("W").dup('c').data().asFloat();
        var mask = a.model().masks().get(new TensorKey(layer, "W"));
        Set<Float> s = new HashSet<>();
        for (int i = 0; i < w.length; i++) if (mask == null || mask.kept(i)) s.add(w[i]);
        return s;
    }

    static JsonNode tensors(String art) throws Exception {
        return M.readTree(Files.readAllBytes(Path.of(art, "packed/tensors.json"))).get("tensors");
    }

    @Test
    void sharedFineTunedPrunedModelKeepsItsMasksAndAccuracyAndShrinks() throws Exception {
        String out = dir.resolve("cb4").toString();
        CliRun r = CliRun.run("quantize", "--model", pruned, "--mode", "codebook", "--bits", "4", "--layer-precision", "2=5",
                "--data", TRAIN, "--epochs", "2", "--lr", "0.001", "--eval-data", TEST, "--out", out);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("quantize: k-means of 3 layers"), r.err());
        assertTrue(r.err().contains("codebook fine-tuning 2 epochs"), r.err());
        assertTrue(r.out().contains("smaller than the dense fp32 parameters"), r.out());
        Artifact src = Artifact.load(pruned), a = Artifact.load(out);
        assertEquals(src.model().masks(), a.model().masks(), "masks unchanged");
        for (int l = 0; l < 3; l++) {
            int clusters = kept(a, l).size();
            assertTrue(clusters <= (l == 2 ? 32 : 16) && clusters > 4, "layer " + l + ": " + clusters + " shared values");
            // pruned weights stay zero
            float[] w = a.model().net().getLayer(l).getParam("W").dup('c').data().asFloat();
            var mask = a.model().masks().get(new TensorKey(l, "W"));
            for (int i = 0; i < w.length; i++) if (!mask.kept(i)) assertEquals(0f, w[i]);
        }
        for (JsonNode t : tensors(out))
            if (t.get("param").asText().equals("W")) assertEquals("SPARSE_CODEBOOK_HUFFMAN", t.get("encoding").asText());
        JsonNode m = M.readTree(Files.readAllBytes(Path.of(out, "manifest.json")));
        assertEquals("codebook", m.get("config").get("command").asText());
        assertEquals(4, m.get("config").get("codebook").get("bits").asInt());
        assertEquals("codebook", m.get("layers").get(0).get("method").asText());
        assertEquals(16, m.get("layers").get(0).get("details").get("clusters").asInt());
        assertEquals(5, m.get("layers").get(2).get("details").get("bits").asInt());
        double acc = m.get("metrics").get("accuracy").asDouble(), base = m.get("metrics").get("baseline").get("accuracy").asDouble();
        assertTrue(acc > base - 0.02, acc + " vs pruned source " + base);
        long prunedBytes = Files.walk(Path.of(pruned)).filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
        long sharedBytes = Files.walk(Path.of(out)).filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
        assertTrue(sharedBytes * 2 < prunedBytes, sharedBytes + " vs pruned " + prunedBytes);
        // inspect names the storage; weights export writes uint8 indices into a float32 codebook that rebuild W exactly
        CliRun insp = CliRun.run("inspect", "--model", out);
        assertTrue(insp.out().contains("codebook 16 (4 bits), huffman, sparse"), insp.out());
        assertTrue(insp.out().contains("codebook 32 (5 bits), huffman, sparse") || insp.out().matches("(?s).*codebook \\d+ \\(5 bits\\).*"), insp.out());
        String npy = dir.resolve("cb4-npy").toString();
        assertEquals(0, CliRun.run("weights", "export", "--model", out, "--out", npy).code());
        JsonNode w0 = M.readTree(Files.readAllBytes(Path.of(npy, "index.json"))).get(0);
        assertEquals("codebook", w0.get("dtype").asText());
        float[] book = npyFloats(Files.readAllBytes(Path.of(npy, w0.get("codebook").asText())));
        byte[] idx = npyBody(Files.readAllBytes(Path.of(npy, w0.get("file").asText())));
        float[] w = a.model().net().getLayer(0).getParam("W").dup('c').data().asFloat();
        assertEquals(w.length, idx.length);
        assertTrue(book.length <= 17, "16 shared values and 0.0 for pruned weights: " + book.length);
        for (int i = 0; i < w.length; i++) assertEquals(w[i], book[idx[i] & 0xff], 0f, "weight " + i);
        assertTrue(npyHeader(Files.readAllBytes(Path.of(npy, w0.get("file").asText()))).contains("|u1"));
        assertTrue(npyHeader(Files.readAllBytes(Path.of(npy, "layer0_b.npy"))).contains("<f4"), "biases stay float32");
        // predict computes with the shared values: DL4J and ONNX Runtime (on the exported graph) give the same classes
        int[] dl4j = predictions(out, "dl4j"), onnx = predictions(out, "onnx");
        assertArrayEquals(dl4j, onnx);
        // evaluate computes with the shared values exactly: the same accuracy as recorded
        String rep = dir.resolve("cb4.json").toString();
        assertEquals(0, CliRun.run("evaluate", "--model", out, "--data", TEST, "--report", rep).code());
        assertEquals(acc, M.readTree(Files.readAllBytes(Path.of(rep))).get("accuracy").asDouble());
    }

    @Test
    void executorsAndThisProcessShareTheSameWayAndRerunWritesTheSameFiles() throws Exception {
        String a = dir.resolve("cb-spark").toString(), b = dir.resolve("cb-local").toString(), c = dir.resolve("cb-rerun").toString();
        assertEquals(0, CliRun.run("quantize", "--model", dense, "--mode", "codebook", "--bits", "3", "--out", a).code());
        assertEquals(0, CliRun.run("quantize", "--model", dense, "--mode", "codebook", "--bits", "3", "--local", "--out", b).code());
        assertArrayEquals(Files.readAllBytes(Path.of(a, "packed/tensors.bin")), Files.readAllBytes(Path.of(b, "packed/tensors.bin")));
        CliRun r = CliRun.run("rerun", "--manifest", a, "--out", c);
        assertEquals(0, r.code(), r.err());
        assertArrayEquals(Files.readAllBytes(Path.of(a, "packed/tensors.bin")), Files.readAllBytes(Path.of(c, "packed/tensors.bin")));
        Artifact art = Artifact.load(a);
        for (int l = 0; l < 3; l++) assertEquals(8, kept(art, l).size(), "layer " + l);
        for (JsonNode t : tensors(a))
            if (t.get("param").asText().equals("W")) assertEquals("CODEBOOK_HUFFMAN", t.get("encoding").asText());
    }

    static String npyHeader(byte[] npy) {
        int hlen = (npy[8] & 0xff) | (npy[9] & 0xff) << 8;
        return new String(npy, 10, hlen, java.nio.charset.StandardCharsets.US_ASCII);
    }

    static byte[] npyBody(byte[] npy) {
        int hlen = (npy[8] & 0xff) | (npy[9] & 0xff) << 8;
        return java.util.Arrays.copyOfRange(npy, 10 + hlen, npy.length);
    }

    static float[] npyFloats(byte[] npy) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(npyBody(npy)).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        float[] f = new float[b.remaining() / 4];
        for (int i = 0; i < f.length; i++) f[i] = b.getFloat();
        return f;
    }

    static int[] predictions(String model, String runtime) {
        String where = dir.resolve(Path.of(model).getFileName() + "-" + runtime).toString();
        CliRun r = CliRun.run("predict", "--model", model, "--data", TEST, "--runtime", runtime, "--out", "parquet:" + where);
        assertEquals(0, r.code(), r.err());
        return PredictCliTest.predictions(io.squeeze.TestSpark.get().read().parquet(where).collectAsList());
    }
}
