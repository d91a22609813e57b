package io.squeeze.cli;

import io.squeeze.core.TensorKey;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.TestModels;
import io.squeeze.artifact.Artifact;
import io.squeeze.core.Storage;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelIO;
import io.squeeze.core.Mask;
import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** squeeze prune as a user runs it. */
class PruneCliTest {
    static final String TRAIN = "csv:data/digits/digits-train.csv.gz", TEST = "csv:data/digits/digits-test.csv.gz";
    static final Storage ST = new Storage(new Configuration());
    @TempDir
    static Path dir;
    static String digits;

    @BeforeAll
    static void train() {
        digits = dir.resolve("digits").toString();
        CliRun r = CliRun.run("train", "--data", TRAIN, "--arch", "mlp:64,32", "--epochs", "10", "--normalize", "minmax", "--sync-every", "5",
                "--lr", "0.005", "--batch", "32", "--out", digits);
        assertEquals(0, r.code(), r.err());
    }

    static Artifact load(String p) {
        return Artifact.load(ST, p);
    }

    /** Every masked entry of every masked tensor is exactly zero. */
    static void assertMaskedZero(LoadedModel m) {
        assertFalse(m.masks().isEmpty());
        for (Map.Entry<TensorKey, Mask> e : m.masks().entrySet()) {
            float[] v = m.net().getLayer(e.getKey().layer()).getParam(e.getKey().param()).dup('c').data().asFloat();
            for (int i = 0; i < v.length; i++) if (!e.getValue().kept(i)) assertEquals(0f, v[i], 0f, e.getKey() + "[" + i + "]");
        }
    }

    static long zeros(org.nd4j.linalg.api.ndarray.INDArray a) {
        long z = 0;
        for (float f : a.dup().data().asFloat()) if (f == 0f) z++;
        return z;
    }

    static double accuracy(String model) throws Exception {
        String rep = dir.resolve("rep-" + System.nanoTime() + ".json").toString();
        CliRun r = CliRun.run("evaluate", "--model", model, "--data", TEST, "--report", rep);
        assertEquals(0, r.code(), r.err());
        return new ObjectMapper().readTree(Files.readAllBytes(Path.of(rep))).get("accuracy").asDouble();
    }

    @Test
    void ninetyPercentPrunedPacksFiveTimesSmallerThanTheDenseZip() throws Exception {
        MultiLayerNetwork net = TestModels.mlp(784, new int[]{300, 100}, 10, 5);
        Path zip = dir.resolve("lenet300.zip");
        ModelIO.writeZip(ST, new org.apache.hadoop.fs.Path(zip.toString()), net, TestModels.meta(784, 10), false);
        String out = dir.resolve("lenet300-g90").toString();
        CliRun r = CliRun.run("prune", "--model", zip.toString(), "--method", "global", "--amount", "0.9", "--out", out);
        assertEquals(0, r.code(), r.err());
        Artifact a = load(out);
        long packed = a.model().storedBytes(), dense = Files.size(zip);
        assertTrue(dense >= 5 * packed, "packed " + packed + " vs DL4J zip " + dense);
        long pruned = a.model().masks().values().stream().mapToLong(Mask::prunedCount).sum();
        assertEquals(Math.round(0.9 * (784 * 300 + 300 * 100 + 100 * 10)), pruned);
        assertMaskedZero(a.model());
        // exact weights survive the sparse encoding
        MultiLayerNetwork expected = net.clone();
        io.squeeze.model.Surgery.applyMasks(expected, a.model().masks());
        TestModels.assertSameWeights(expected, a.model().net());
        assertEquals("prune:global", a.manifest().layers().get(0).method());
        assertTrue(r.out().contains("pruned 239580 of 266200 masked entries (90.00%)"), r.out());
        CliRun inspect = CliRun.run("inspect", "--model", out, "--json");
        JsonNode l0 = new ObjectMapper().readTree(inspect.out()).get("layers").get(0);
        assertTrue(l0.get("sparsity").asDouble() > 0.5);
        assertEquals("prune:global", l0.get("method").asText());
    }

    @Test
    void pruningAPrunedArtifactComposesAndDistributedEqualsLocal() {
        String a = dir.resolve("l1-a").toString(), b = dir.resolve("l1-b").toString(), c = dir.resolve("l1-c").toString();
        assertEquals(0, CliRun.run("prune", "--model", digits, "--method", "l1", "--amount", "0.5", "--out", a).code());
        assertEquals(0, CliRun.run("prune", "--model", a, "--method", "l1", "--amount", "0.5", "--out", b).code());
        assertEquals(0, CliRun.run("prune", "--model", a, "--method", "l1", "--amount", "0.5", "--local", "--out", c).code());
        Artifact ab = load(b);
        long n0 = 64 * 64, first = Math.round(0.5 * n0);
        assertEquals(first + Math.round(0.5 * (n0 - first)), ab.model().masks().get(TensorKey.weights(0)).prunedCount());
        assertEquals(load(c).model().masks(), ab.model().masks());
        TestModels.assertSameWeights(load(c).model().net(), ab.model().net());
        assertMaskedZero(ab.model());
    }

    @Test
    void fineTuningKeepsZerosAndRecoversAccuracy() throws Exception {
        String raw = dir.resolve("g95").toString(), tuned = dir.resolve("g95-ft").toString();
        assertEquals(0, CliRun.run("prune", "--model", digits, "--method", "global", "--amount", "0.95", "--out", raw).code());
        CliRun ft = CliRun.run("prune", "--model", digits, "--method", "global", "--amount", "0.95", "--fine-tune-data", TRAIN,
                "--fine-tune-epochs", "6", "--eval-data", TEST, "--out", tuned);
        assertEquals(0, ft.code(), ft.err());
        Artifact t = load(tuned);
        assertMaskedZero(t.model());
        assertEquals(load(raw).model().masks(), t.model().masks(), "fine-tuning keeps the masks");
        double before = accuracy(raw), after = accuracy(tuned), dense = accuracy(digits);
        // each fine-tuning epoch is validated; the last one is the masked model as written
        assertTrue(ft.err().contains(String.format(java.util.Locale.ROOT, "train: epoch 6 validation accuracy %.4f", after)), ft.err());
        String rep = dir.resolve("ft-report.json").toString();
        assertEquals(0, CliRun.run("evaluate", "--model", tuned, "--data", TEST, "--report", rep).code());
        JsonNode layers = new ObjectMapper().readTree(Files.readAllBytes(Path.of(rep))).get("layers");
        assertEquals(3, layers.size());
        long pruned = t.model().masks().get(TensorKey.weights(0)).prunedCount();
        assertEquals(1.0 - (double) (64 * 64 + 64 - pruned - zeros(t.model().net().getLayer(0).getParam("b"))) / (64 * 64 + 64),
                layers.get(0).get("sparsity").asDouble(), 1e-12);
        assertTrue(after > before + 0.02, "fine-tuned " + after + " vs pruned " + before + " (dense " + dense + ")");
        assertEquals(after, (Double) t.manifest().metrics().get("accuracy"), 1e-12);
        assertTrue(t.model().net().getLayerWiseConfigurations().toJson().contains("MaskConstraint") == false, "constraints stripped");
    }

    @Test
    void structuredAndThresholdAndPerLayer() throws Exception {
        String ln = dir.resolve("ln").toString();
        assertEquals(0, CliRun.run("prune", "--model", digits, "--method", "ln", "--norm", "2", "--dim", "out", "--amount", "0.25",
                "--layers", "0-1", "--out", ln).code());
        Mask m0 = load(ln).model().masks().get(TensorKey.weights(0));
        assertEquals(16 * 64, m0.prunedCount(), "16 of 64 output neurons of layer 0, each 64 inputs");
        assertFalse(load(ln).model().masks().containsKey(TensorKey.weights(2)), "--layers 0-1 leaves the output layer");
        String th = dir.resolve("th").toString();
        assertEquals(0, CliRun.run("prune", "--model", digits, "--method", "threshold", "--threshold", "0.05", "--out", th).code());
        for (Map.Entry<TensorKey, Mask> e : load(th).model().masks().entrySet()) assertTrue(e.getValue().prunedCount() > 0, e.getKey().toString());
        String per = dir.resolve("per").toString();
        assertEquals(0, CliRun.run("prune", "--model", digits, "--method", "l1", "--amount", "0:0.3,layer1:10", "--out", per).code());
        Map<TensorKey, Mask> pm = load(per).model().masks();
        assertEquals(Math.round(0.3 * 64 * 64), pm.get(TensorKey.weights(0)).prunedCount());
        assertEquals(10, pm.get(TensorKey.weights(1)).prunedCount());
        assertEquals(2, pm.size());
        Path file = Files.writeString(dir.resolve("amounts.txt"), "# per-layer amounts\n0:0.3\nlayer1:10 # by name\n");
        String perFile = dir.resolve("per-file").toString();
        assertEquals(0, CliRun.run("prune", "--model", digits, "--method", "l1", "--amount", "@" + file, "--out", perFile).code());
        assertEquals(pm, load(perFile).model().masks());
    }

    @Test
    void shrinkingGivesTheMaskedNetworksOutputsWithFewerParameters() {
        String masked = dir.resolve("ln-masked").toString(), shrunk = dir.resolve("ln-shrunk").toString();
        String[] common = {"prune", "--model", digits, "--method", "ln", "--dim", "out", "--norm", "1", "--amount", "0.5", "--layers", "0-1"};
        assertEquals(0, CliRun.run(CliRun.with(common, "--out", masked)).code());
        CliRun r = CliRun.run(CliRun.with(common, "--shrink", "--out", shrunk));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("shrink layer 0: nOut 64 -> 32") && r.err().contains("shrink layer 1: nOut 32 -> 16"), r.err());
        MultiLayerNetwork a = load(masked).model().net(), b = load(shrunk).model().net();
        assertEquals(64 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10, b.numParams());
        assertTrue(b.numParams() < a.numParams() / 2);
        var x = org.nd4j.linalg.factory.Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 50, 64);
        var ya = a.output(x, false);
        var yb = b.output(x, false);
        assertEquals(0, ya.sub(yb).amax().getDouble(0), 1e-5, "shrunk outputs equal the masked ones");
        assertEquals("prune:ln(l1,out)+shrink", load(shrunk).manifest().layers().get(0).method());
        // every pruned neuron is gone: no all-kept bitmap is stored, and the artifact is smaller than the masked one
        assertEquals(Map.of(), load(shrunk).model().masks());
        assertTrue(r.out().contains("no masks left (every pruned slice removed)"), r.out());
        assertTrue(packedBytes(shrunk) < packedBytes(masked), packedBytes(shrunk) + " vs " + packedBytes(masked));
    }

    @Test
    void shrinkingConvolutionsOfLenet5() {
        var conf = io.squeeze.model.Architectures.build(new io.squeeze.model.Arch.LeNet5(), 256, 10, new int[]{16, 16, 1},
                new io.squeeze.model.Architectures.Hyper(3, 1e-3, 0), null);
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        Path zip = dir.resolve("lenet5.zip");
        ModelIO.writeZip(ST, new org.apache.hadoop.fs.Path(zip.toString()), net,
                new io.squeeze.model.ModelMeta(256, 10, new int[]{16, 16, 1}, null, "test"), false);
        String masked = dir.resolve("l5-masked").toString(), shrunk = dir.resolve("l5-shrunk").toString();
        String[] common = {"prune", "--model", zip.toString(), "--method", "ln", "--dim", "out", "--norm", "2", "--amount", "0.5", "--layers", "0,2,4"};
        assertEquals(0, CliRun.run(CliRun.with(common, "--out", masked)).code());
        CliRun r = CliRun.run(CliRun.with(common, "--shrink", "--out", shrunk));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("shrink layer 0: channels 6 -> 3") && r.err().contains("shrink layer 2: channels 16 -> 8")
                && r.err().contains("shrink layer 4: nOut 120 -> 60"), r.err());
        MultiLayerNetwork a = load(masked).model().net(), b = load(shrunk).model().net();
        assertTrue(b.numParams() < a.numParams() * 0.6, b.numParams() + " vs " + a.numParams());
        var x = org.nd4j.linalg.factory.Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 20, 256);
        assertEquals(0, a.output(x, false).sub(b.output(x, false)).amax().getDouble(0), 1e-5, "shrunk outputs equal the masked ones");
        assertEquals(Map.of(), load(shrunk).model().masks(), "every pruned channel and neuron removed: no all-kept bitmap stored");
    }

    static long packedBytes(String artifact) {
        return load(artifact).manifest().files().entrySet().stream().filter(e -> e.getKey().startsWith("packed/")).mapToLong(e -> e.getValue().bytes()).sum();
    }


    @Test
    void badPruningInput() throws Exception {
        String out = dir.resolve("never").toString();
        String[][] cases = {
                {"prune.amount must be in [0,1], got 1.3", "--method", "l1", "--amount", "1.3"},
                {"prune.amount 5000 is more than the 4096 remaining entries of layer 0 W", "--method", "l1", "--amount", "5000"},
                {"Invalid value for option '--method'", "--method", "magnitude", "--amount", "0.5"},
                {"prune.norm must be 1, 2 or inf, got 'two'", "--method", "ln", "--norm", "two", "--amount", "0.5"},
                {"prune.dim must be out or in, got 'up'", "--method", "ln", "--dim", "up", "--amount", "0.5"},
                {"prune.dim in does not exist for layer 0 b", "--method", "ln", "--dim", "in", "--amount", "0.5", "--include-bias"},
                {"--layers 'conv*' matches no layer with weights", "--method", "l1", "--amount", "0.5", "--layers", "conv*"},
                {"--threshold must be given for method threshold", "--method", "threshold"},
                {"--amount must be given for method l1", "--method", "l1"},
        };
        for (String[] c : cases) {
            String[] args = new String[c.length - 1 + 4];
            args[0] = "prune";
            args[1] = "--model";
            args[2] = digits;
            System.arraycopy(c, 1, args, 3, c.length - 1);
            args[args.length - 1] = "--out=" + out;
            CliRun r = CliRun.run(args);
            assertEquals(2, r.code(), String.join(" ", args) + ": " + r.err());
            assertTrue(r.lastErr().contains(c[0]), "expected '" + c[0] + "' in " + r.lastErr());
            assertFalse(Files.exists(Path.of(out)));
        }
        MultiLayerNetwork one = TestModels.mlp(64, new int[]{1}, 10, 1);
        Path z = dir.resolve("one.zip");
        ModelIO.writeZip(ST, new org.apache.hadoop.fs.Path(z.toString()), one, TestModels.meta(64, 10), false);
        CliRun r = CliRun.run("prune", "--model", z.toString(), "--method", "ln", "--amount", "0.5", "--layers", "0", "--out", out);
        assertEquals(2, r.code());
        assertTrue(r.lastErr().endsWith("ln pruning needs more than one out slice; layer 0 W has 1"), r.lastErr());
    }
}
