package io.squeeze.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.squeeze.artifact.Artifact;
import io.squeeze.core.Mask;
import io.squeeze.core.TensorKey;
import io.squeeze.model.Surgery;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/**
 * An LSTM as a user runs it through Squeeze, on local[2]: {@code train --arch lstm:24} on the UCI digits read as 8 steps
 * of 8 pixels, unstructured pruning of its input and recurrent weights with fine-tuning (masks kept through training),
 * dynamic int8 quantization in integer arithmetic, an LSTM student distilled from stored soft targets.
 */
class LstmCliTest {
    static final String TRAIN = QuantizeCliTest.TRAIN, TEST = QuantizeCliTest.TEST;
    @TempDir
    static Path dir;
    static String dense;
    static double denseAccuracy;

    static double accuracy(String model) throws Exception {
        return accuracy(dir, model);
    }

    /** {@code model}'s accuracy on the digits' test rows, its report written in {@code dir}. */
    static double accuracy(Path dir, String model) throws Exception {
        String rep = dir.resolve(Path.of(model).getFileName() + "-report.json").toString();
        CliRun r = CliRun.run("evaluate", "--model", model, "--data", TEST, "--report", rep, "--overwrite");
        assertEquals(0, r.code(), r.err());
        return QuantizeCliTest.M.readTree(Files.readAllBytes(Path.of(rep))).get("accuracy").asDouble();
    }

    @BeforeAll
    static void train() throws Exception {
        dense = dir.resolve("lstm").toString();
        CliRun r = CliRun.run("train", "--data", TRAIN, "--arch", "lstm:24", "--epochs", "10", "--lr", "0.01", "--normalize", "minmax",
                "--seed", "42", "--out", dense);
        assertEquals(0, r.code(), r.err());
        denseAccuracy = accuracy(dense);
        assertTrue(denseAccuracy > 0.8, "lstm:24 on the digits: " + denseAccuracy);
        var net = PruneCliTest.load(dense).model().net();
        assertEquals("LSTM", net.getLayer(0).conf().getLayer().getClass().getSimpleName());
        assertArrayEquals(new long[]{24, 96}, net.getLayer(0).getParam("RW").shape());
    }

    @Test
    void sensitivityCompressesTheInputAndRecurrentWeightsTogetherAsTheCommandsDo() throws Exception {
        var a = PruneCliTest.load(dense).model();
        var net = a.net();
        long w = net.getLayer(0).getParam("W").length(), rw = net.getLayer(0).getParam("RW").length();
        String s = dir.resolve("lstm-sensitivity.json").toString();
        CliRun r = CliRun.run("sensitivity", "--model", dense, "--data", TEST, "--technique", "quantize", "--levels", "4,8", "--layers", "0", "--local", "--out", s);
        assertEquals(0, r.code(), r.err());
        JsonNode layer = QuantizeCliTest.M.readTree(Files.readAllBytes(Path.of(s))).get("layers").get(0);
        assertEquals(w + rw, layer.get("params").asLong(), "W and RW are one unit");
        assertEquals((32 - 4) * (double) (w + rw), layer.get("curve").get(0).get("bits_saved").asDouble(), 1e-6);
        // int4 as quantize stores the layer ([W; RW], a scale per gate column), evaluated in float: the curve's point
        var cfg = new io.squeeze.quantize.QuantConfig(io.squeeze.quantize.QuantConfig.Mode.DYNAMIC, io.squeeze.quantize.QuantConfig.Precision.INT4,
                io.squeeze.quantize.QuantConfig.Granularity.CHANNEL, null, false, io.squeeze.quantize.QuantConfig.observer("minmax"), java.util.List.of());
        var q = io.squeeze.quantize.QuantizedModel.quantizeWeights(io.squeeze.model.NetOps.of(net), cfg, Map.of()).tensorsOf(0);
        var copy = net.clone();
        for (String p : new String[]{"W", "RW"})
            copy.getLayer(0).setParam(p, org.nd4j.linalg.factory.Nd4j.create(q.get(p).dequantize(), copy.getLayer(0).getParam(p).shape(), 'c'));
        Path zip = dir.resolve("lstm-int4-weights.zip");
        Files.write(zip, io.squeeze.model.ModelIO.toZip(copy, a.meta()));
        assertEquals(accuracy(zip.toString()), layer.get("curve").get(0).get("accuracy").asDouble(), 1e-12, "int4 [W; RW]");
        // pruning: l1 of W and of RW at the level, as prune --method l1 --layers 0 writes it
        String sp = dir.resolve("lstm-sensitivity-prune.json").toString(), pruned = dir.resolve("lstm-l1-90").toString();
        assertEquals(0, CliRun.run("sensitivity", "--model", dense, "--data", TEST, "--technique", "prune", "--levels", "0.9", "--layers", "0", "--out", sp).code());
        assertEquals(0, CliRun.run("prune", "--model", dense, "--method", "l1", "--amount", "0.9", "--layers", "0", "--out", pruned).code());
        JsonNode pl = QuantizeCliTest.M.readTree(Files.readAllBytes(Path.of(sp))).get("layers").get(0);
        assertEquals(accuracy(pruned), pl.get("curve").get(0).get("accuracy").asDouble(), 1e-12, "W and RW pruned 90 %");
        assertEquals(32.0 * (Math.rint(0.9 * w) + Math.rint(0.9 * rw)), pl.get("curve").get(0).get("bits_saved").asDouble(), 32.0 * 2);
    }

    @Test
    void pruningMasksTheInputAndRecurrentWeightsThroughFineTuning() throws Exception {
        String out = dir.resolve("pruned").toString();
        CliRun r = CliRun.run("prune", "--model", dense, "--method", "l1", "--amount", "0.5", "--fine-tune-data", TRAIN,
                "--fine-tune-epochs", "2", "--out", out);
        assertEquals(0, r.code(), r.err());
        Artifact a = PruneCliTest.load(out);
        Map<TensorKey, Mask> masks = a.model().masks();
        assertEquals(Set.of(new TensorKey(0, "W"), new TensorKey(0, "RW"), new TensorKey(1, "W")), masks.keySet());
        for (Map.Entry<TensorKey, Mask> e : masks.entrySet()) {
            assertEquals(0.5, e.getValue().prunedCount() / (double) e.getValue().size(), 1e-9, e.getKey().toString());
            float[] v = Surgery.values(a.model().net(), e.getKey().layer(), e.getKey().param());
            for (int i = 0; i < v.length; i++) if (!e.getValue().kept(i)) assertEquals(0f, v[i], e.getKey() + " at " + i + " after fine-tuning");
        }
        float[] before = Surgery.values(PruneCliTest.load(dense).model().net(), 0, "RW"), after = Surgery.values(a.model().net(), 0, "RW");
        Mask rw = masks.get(new TensorKey(0, "RW"));
        int moved = 0;
        for (int i = 0; i < after.length; i++) if (rw.kept(i) && after[i] != before[i]) moved++;
        assertTrue(moved > rw.size() / 4, "fine-tuning changed " + moved + " kept recurrent weights");
        assertEquals(denseAccuracy, accuracy(out), 0.06);
    }

    @Test
    void wholeUnitsArePrunedAndShrunkWithoutChangingWhatTheNetworkComputes() throws Exception {
        String masked = dir.resolve("units").toString(), shrunk = dir.resolve("units-shrunk").toString();
        String[] p = {"prune", "--model", dense, "--method", "ln", "--amount", "0.5", "--layers", "0"};
        assertEquals(0, CliRun.run(CliRun.with(p, "--out", masked)).code());
        CliRun r = CliRun.run(CliRun.with(p, "--shrink", "--out", shrunk));
        assertEquals(0, r.code(), r.err());
        assertTrue((r.out() + r.err()).contains("prune: shrink layer 0: units 24 -> 12"), r.out() + r.err());
        Artifact a = PruneCliTest.load(shrunk);
        var net = a.model().net();
        assertArrayEquals(new long[]{8, 48}, net.getLayer(0).getParam("W").shape());
        assertArrayEquals(new long[]{12, 48}, net.getLayer(0).getParam("RW").shape());
        assertArrayEquals(new long[]{12, 10}, net.getLayer(1).getParam("W").shape());
        assertEquals(Map.of(), a.model().masks());
        Map<TensorKey, Mask> m = PruneCliTest.load(masked).model().masks();
        assertEquals(48, m.get(new TensorKey(0, "b")).prunedCount()); // 12 units × 4 gates
        var x = org.nd4j.linalg.factory.Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 20, 64);
        assertArrayEquals(PruneCliTest.load(masked).model().net().output(x).data().asFloat(), net.output(x).data().asFloat(), 1e-5f);
        assertEquals(accuracy(masked), accuracy(shrunk), 1e-12);
    }

    @Test
    void aDl4jZipSourceGetsTheSameUnitMasks() throws Exception {
        // a DL4J zip pruned without fine-tuning streams tensor by tensor, one task each; an LSTM's units group three
        // tensors, so ln takes the in-memory path and chooses what it chooses from an artifact
        String zip = dir.resolve("lstm.zip").toString(), fromZip = dir.resolve("units-from-zip").toString(), fromArt = dir.resolve("units-from-art").toString();
        assertEquals(0, CliRun.run("export", "--model", dense, "--format", "dl4j", "--out", zip).code());
        String[] p = {"prune", "--method", "ln", "--amount", "0.25", "--layers", "0"};
        CliRun r = CliRun.run(CliRun.with(p, "--model", zip, "--out", fromZip));
        assertEquals(0, r.code(), r.err());
        assertEquals(0, CliRun.run(CliRun.with(p, "--model", dense, "--out", fromArt)).code());
        Map<TensorKey, Mask> z = PruneCliTest.load(fromZip).model().masks();
        assertEquals(PruneCliTest.load(fromArt).model().masks(), z);
        assertEquals(4 * 6, z.get(new TensorKey(0, "b")).prunedCount()); // 6 of 24 units, four gates each
    }

    @Test
    void dynamicInt8RunsInIntegerArithmeticAndKeepsAccuracy() throws Exception {
        String out = dir.resolve("int8").toString();
        CliRun r = CliRun.run("quantize", "--model", dense, "--mode", "dynamic", "--bits", "8", "--eval-data", TEST, "--out", out);
        assertEquals(0, r.code(), r.err());
        Artifact a = PruneCliTest.load(out);
        assertArrayEquals(new long[]{8 + 24, 96}, a.quant().weights().get(0).shape()); // [W; RW] stored as W and RW, read back stacked
        assertEquals(96, a.quant().weights().get(0).params().length);
        double q = accuracy(out);
        JsonNode m = QuantizeCliTest.manifest(out);
        assertEquals("integer", m.get("metrics").get("accuracy_path").asText());
        assertEquals(m.get("metrics").get("accuracy").asDouble(), q, 1e-12);
        assertEquals(denseAccuracy, q, 0.02);
        assertTrue(QuantizeCliTest.packedBytes(out) < QuantizeCliTest.packedBytes(dense) / 2.0,
                QuantizeCliTest.packedBytes(out) + " vs " + QuantizeCliTest.packedBytes(dense));
        for (String[] weights : new String[][]{{"--bits", "4"}, {"--dtype", "fp16"}}) { // the other dynamic weight formats
            String o = dir.resolve("dyn-" + weights[1]).toString();
            CliRun w = CliRun.run(CliRun.with(new String[]{"quantize", "--model", dense, "--mode", "dynamic", "--eval-data", TEST, "--out", o}, weights));
            assertEquals(0, w.code(), w.err());
            Artifact b = PruneCliTest.load(o);
            assertArrayEquals(new long[]{32, 96}, b.quant().weights().get(0).shape(), weights[1]);
            assertEquals(QuantizeCliTest.manifest(o).get("metrics").get("accuracy").asDouble(), accuracy(o), 1e-12, weights[1]);
            assertEquals(denseAccuracy, accuracy(o), weights[1].equals("fp16") ? 0.003 : 0.05, weights[1]);
        }
    }

    @Test
    void lotteryRoundsPruneTheInputAndRecurrentWeights() throws Exception {
        String out = dir.resolve("lottery").toString();
        CliRun r = CliRun.run("lottery", "--arch", "lstm:8", "--data", TRAIN, "--test-data", TEST, "--epochs", "1", "--rounds", "1",
                "--normalize", "minmax", "--out", out);
        assertEquals(0, r.code(), r.err());
        // W [8, 32] and RW [8, 32] lose round-half-even(0.2 · 256) = 51 each, the output W [8, 10] 0.1 · 80 = 8
        JsonNode rounds = QuantizeCliTest.M.readTree(Files.readAllBytes(Path.of(out, "lottery.json")));
        assertEquals((592 - 110) / 592.0, rounds.get(1).get("weights_remaining").asDouble(), 1e-12);
        Map<TensorKey, Mask> m = PruneCliTest.load(Path.of(out, "ticket").toString()).model().masks();
        assertEquals(51, m.get(new TensorKey(0, "RW")).prunedCount());
    }

    @Test
    void anLstmStudentLearnsFromStoredSoftTargets() throws Exception {
        String soft = dir.resolve("soft").toString(), out = dir.resolve("student").toString();
        assertEquals(0, CliRun.run("soft-targets", "--teacher", dense, "--data", TRAIN, "--out", soft).code());
        CliRun r = CliRun.run("distill", "--soft-targets", soft, "--data", TRAIN, "--student", "lstm:16", "--lr", "0.01", "--epochs", "4",
                "--eval-data", TEST, "--out", out);
        assertEquals(0, r.code(), r.err());
        assertEquals(16, PruneCliTest.load(out).model().net().getLayer(0).getParam("RW").rows());
        assertTrue(accuracy(out) > 0.5, "distilled lstm:16");
    }

    @Test
    void factorizationFactorsTheInputAndRecurrentMatricesInPlaceAndFineTunesThem() throws Exception {
        String exec = dir.resolve("lowrank").toString(), local = dir.resolve("lowrank-local").toString(), tuned = dir.resolve("lowrank-ft").toString();
        String[] f = {"factorize", "--model", dense, "--energy", "0.9", "--layers", "0"};
        CliRun r = CliRun.run(CliRun.with(f, "--out", exec));
        assertEquals(0, r.code(), r.err());
        assertEquals(0, CliRun.run(CliRun.with(f, "--local", "--out", local)).code());
        var net = PruneCliTest.load(exec).model().net();
        var l = (io.squeeze.model.FactoredLstm) net.getLayer(0).conf().getLayer();
        // each matrix at its own rank: the smallest keeping 90 % of its spectrum's energy, as the manifest notes
        JsonNode d = QuantizeCliTest.manifest(exec).get("layers").get(0).get("details");
        assertEquals(l.getInRank(), d.get("W").get("rank").asInt());
        assertEquals(l.getRecRank(), d.get("RW").get("rank").asInt());
        assertTrue(l.getInRank() > 0 && l.getInRank() < 8 && l.getRecRank() > 0 && l.getRecRank() < 24, l.getInRank() + " " + l.getRecRank());
        assertTrue(d.get("RW").get("energy_kept").asDouble() >= 0.9);
        assertEquals(l.getInRank() * (8 + 96) + l.getRecRank() * (24 + 96) + 96, net.getLayer(0).numParams());
        // the product is the source's RW to the relative error noted
        var src = PruneCliTest.load(dense).model().net();
        var rw = src.getLayer(0).getParam("RW");
        double err = rw.sub(net.getLayer(0).getParam("RWA").mmul(net.getLayer(0).getParam("RWB"))).norm2Number().doubleValue() / rw.norm2Number().doubleValue();
        assertEquals(d.get("RW").get("relative_error").asDouble(), err, 1e-5);
        // the SVDs on executors and in this process give the same factors
        assertEquals(net.params(), PruneCliTest.load(local).model().net().params());
        double before = accuracy(exec);
        CliRun t = CliRun.run(CliRun.with(f, "--fine-tune-data", TRAIN, "--fine-tune-epochs", "3", "--fine-tune-lr", "0.005", "--out", tuned));
        assertEquals(0, t.code(), t.err());
        var ft = PruneCliTest.load(tuned).model().net();
        assertTrue(ft.getLayer(0).getParam("RWA").sub(net.getLayer(0).getParam("RWA")).amaxNumber().doubleValue() > 1e-3, "fine-tuning trains the factors");
        double after = accuracy(tuned);
        assertTrue(after >= before - 0.01, before + " -> " + after);
        assertEquals(denseAccuracy, after, 0.05);
        // an LSTM already factorized is neither pruned nor quantized: one line, exit 2, nothing written
        for (String[] refused : new String[][]{{"prune", "--model", tuned, "--method", "l1", "--amount", "0.5"},
                {"quantize", "--model", tuned, "--mode", "dynamic"}}) {
            String o = dir.resolve("refused-" + refused[0]).toString();
            CliRun x = CliRun.run(CliRun.with(refused, "--out", o));
            assertEquals(2, x.code(), x.err());
            assertTrue(x.err().contains("layer 0 ('layer0') is a factorized LSTM"), x.err());
            assertFalse(Files.exists(Path.of(o)));
        }
    }
}
