package io.squeeze.lowrank;

import io.squeeze.core.BadInputException;
import io.squeeze.TestModels;
import io.squeeze.TestSpark;
import io.squeeze.artifact.Artifact;
import io.squeeze.core.Storage;
import io.squeeze.cli.CliRun;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelIO;
import io.squeeze.model.SourceKind;
import io.squeeze.core.LayerSelector;
import io.squeeze.spark.FactorizeJob;
import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class FactorizeTest {
    @TempDir
    Path dir;


    @Test
    void rankSelection() {
        Ranks.Layer a = new Ranks.Layer("a", 100, 50, new double[]{10, 5, 1, 0.5, 0.1}), b = new Ranks.Layer("b", 40, 40, new double[]{3, 2.9, 2.8, 2.7});
        assertArrayEquals(new int[]{2, 2}, new RankPolicy.Fixed(2).choose(List.of(a, b)));
        assertEquals(2, Ranks.energyRank(a.s(), 0.99));  // (100 + 25) / 126.26 = 0.990
        assertEquals(1, Ranks.energyRank(a.s(), 0.75));
        assertEquals(4, Ranks.energyRank(b.s(), 1.0));
        // budget: 2 ranks of a (150 each) + 2 of b (80 each) = 460; greedy takes the biggest sigma^2 per weight first
        int[] k = new RankPolicy.Budget(Double.NaN, 460).choose(List.of(a, b));
        assertTrue(a.cost(k[0]) + b.cost(k[1]) <= 460);
        assertArrayEquals(new int[]{2, 2}, k);
        assertEquals("factorize.params-budget 100 weights cannot be met: rank 1 everywhere needs 230",
                assertThrows(BadInputException.class, () -> new RankPolicy.Budget(Double.NaN, 100).choose(List.of(a, b))).getMessage());
        assertEquals("factorize.rank 41 is above min(nIn, nOut) = 40 of b",
                assertThrows(BadInputException.class, () -> new RankPolicy.Fixed(41).choose(List.of(a, b))).getMessage());
        assertThrows(BadInputException.class, () -> new RankPolicy.Energy(1.5));
        assertThrows(BadInputException.class, () -> new RankPolicy.Fixed(0));
        assertFalse(b.saves(20));
        assertTrue(b.saves(19));
    }

    @Test
    void fullRankRewriteComputesTheSameOutputsAndDistributedEqualsLocal() {
        MultiLayerNetwork net = TestModels.mlp(30, new int[]{20, 12}, 10, 4);
        LoadedModel m = new LoadedModel(net, TestModels.meta(30, 10), "", "t", SourceKind.DL4J_ZIP, 0);
        FactorizeJob.Result r5 = FactorizeJob.run(new io.squeeze.spark.Execution.InProcess(), m, LayerSelector.parse("0"), new RankPolicy.Fixed(5), new SvdMethod.Exact());
        assertEquals(net.getnLayers() + 1, r5.net().getnLayers());
        assertEquals(5 * (30 + 20) + 20 + 20 * 12 + 12 + 12 * 10 + 10, r5.net().numParams());
        // the rewritten network computes exactly what the network with W replaced by A·B computes
        LayerFactors.Result f = LayerFactors.factor(io.squeeze.model.Surgery.values(net, 0, "W"), 30, 20, 5, new SvdMethod.Exact());
        MultiLayerNetwork expected = net.clone();
        expected.getLayer(0).setParam("W", Nd4j.create(f.factors().a(), new long[]{30, 5}, 'c').mmul(Nd4j.create(f.factors().b(), new long[]{5, 20}, 'c')));
        var x = Nd4j.rand(DataType.FLOAT, 7, 30);
        assertEquals(0, expected.output(x).sub(r5.net().output(x)).amax().getDouble(0), 1e-5);
        assertEquals(f.relativeError(), (Double) r5.notes().get(0).details().get("relative_error"), 1e-12);
        assertEquals("factorize:exact", r5.notes().get(1).method(), "both halves carry the note");
        assertEquals("dense", FactorizeJob.run(new io.squeeze.spark.Execution.InProcess(), m, LayerSelector.parse("0"), new RankPolicy.Fixed(19), new SvdMethod.Exact())
                .notes().get(0).method(), "rank 19 of a 30x20 layer would not save weights");
        FactorizeJob.Result exact = FactorizeJob.run(new io.squeeze.spark.Execution.InProcess(), m, LayerSelector.parse("0,1"), new RankPolicy.Energy(0.8), new SvdMethod.Exact());
        FactorizeJob.Result dist = FactorizeJob.run(new io.squeeze.spark.Execution.OnSpark(TestSpark.jsc()), m, LayerSelector.parse("0,1"), new RankPolicy.Energy(0.8), new SvdMethod.Exact());
        TestModels.assertSameWeights(exact.net(), dist.net());
        assertEquals(exact.notes(), dist.notes());
        FactorizeJob.Result r1 = FactorizeJob.run(new io.squeeze.spark.Execution.OnSpark(TestSpark.jsc()), m, LayerSelector.ALL, new RankPolicy.Fixed(3), new SvdMethod.Randomized(10, 2, 5));
        FactorizeJob.Result r2 = FactorizeJob.run(new io.squeeze.spark.Execution.InProcess(), m, LayerSelector.ALL, new RankPolicy.Fixed(3), new SvdMethod.Randomized(10, 2, 5));
        TestModels.assertSameWeights(r1.net(), r2.net());
        assertEquals(3 * (30 + 20) + 20 + 3 * (20 + 12) + 12 + 3 * (12 + 10) + 10, r1.net().numParams());
    }

    @Test
    void convolutionsBecomeAKFilterConvolutionAndAOneByOne() {
        var conf = io.squeeze.model.Architectures.build(new io.squeeze.model.Arch.LeNet5(), 256, 10, new int[]{16, 16, 1},
                new io.squeeze.model.Architectures.Hyper(3, 1e-3, 0), null);
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        LoadedModel m = new LoadedModel(net, new io.squeeze.model.ModelMeta(256, 10, new int[]{16, 16, 1}, null, "t"), "", "t", SourceKind.DL4J_ZIP, 0);
        FactorizeJob.Result r = FactorizeJob.run(new io.squeeze.spark.Execution.OnSpark(TestSpark.jsc()), m, LayerSelector.parse("2"), new RankPolicy.Fixed(4), new SvdMethod.Exact());
        MultiLayerNetwork f = r.net();
        assertEquals(net.getnLayers() + 1, f.getnLayers());
        assertArrayEquals(new long[]{4, 6, 5, 5}, f.getLayer(2).getParam("W").shape());
        assertArrayEquals(new long[]{16, 4, 1, 1}, f.getLayer(3).getParam("W").shape());
        // equals the network whose conv W is replaced by the rank-4 reconstruction
        LayerFactors.Result lf = LayerFactors.factor(io.squeeze.model.Surgery.values(net, 2, "W"), 16, 150, 4, new SvdMethod.Exact());
        MultiLayerNetwork expected = net.clone();
        expected.getLayer(2).setParam("W", Nd4j.create(lf.factors().a(), new long[]{16, 4}, 'c')
                .mmul(Nd4j.create(lf.factors().b(), new long[]{4, 150}, 'c')).reshape('c', 16, 6, 5, 5));
        var x = Nd4j.rand(DataType.FLOAT, 5, 256);
        assertEquals(0, expected.output(x).sub(f.output(x)).amax().getDouble(0), 1e-5);
        assertEquals(4 * (16 + 150) + 16, f.getLayer(2).numParams() + f.getLayer(3).numParams());
    }

    @Test
    void cliWritesALoadableSmallerArtifactAndRefusesBadInput() {
        MultiLayerNetwork net = TestModels.mlp(64, new int[]{48}, 10, 2);
        Path zip = dir.resolve("m.zip");
        Storage st = new Storage(new Configuration());
        ModelIO.writeZip(st, new org.apache.hadoop.fs.Path(zip.toString()), net, TestModels.meta(64, 10), false);
        String out = dir.resolve("f").toString();
        CliRun r = CliRun.run("factorize", "--model", zip.toString(), "--params-budget", "0.5", "--out", out);
        assertEquals(0, r.code(), r.err());
        Artifact a = Artifact.load(st, out);
        assertEquals(4, a.model().net().getnLayers(), "both dense layers factorized");
        assertTrue(a.model().net().numParams() - 48 - 10 <= 0.5 * (64 * 48 + 48 * 10), "weights within the budget");
        assertEquals("factorize:exact", a.manifest().layers().get(0).method());
        String per = dir.resolve("per").toString();
        CliRun p = CliRun.run("factorize", "--model", zip.toString(), "--rank", "0:6", "--out", per);
        assertEquals(0, p.code(), p.err());
        var pn = Artifact.load(st, per).model().net();
        assertEquals(3, pn.getnLayers(), "only layer 0 factorized");
        assertArrayEquals(new long[]{64, 6}, pn.getLayer(0).getParam("W").shape());
        CliRun pe = CliRun.run("factorize", "--model", zip.toString(), "--energy", "0:0.5,1:1.0", "--out", dir.resolve("pe").toString());
        assertEquals(0, pe.code(), pe.err());
        assertTrue(pe.out().contains("left_dense"), "energy 1.0 on the output layer needs full rank: left dense; " + pe.out());
        String[][] bad = {{"factorize.rank must be > 0, got 0", "--rank", "0"}, {"factorize.rank 49 is above min(nIn, nOut) = 48 of layer 0", "--rank", "49"},
                {"factorize.energy must be in (0,1], got 1.2", "--energy", "1.2"}, {"cannot be met", "--params-budget", "10"},
                {"Error: --rank=K, --energy=E are mutually exclusive", "--rank", "3", "--energy", "0.5"},
                {"per-layer ranks name [0, 7] but only 1 of them are factorizable layers", "--rank", "0:4,7:4"},
                {"--rank value 'x' for layer 0 is not a number", "--rank", "0:x"}};
        for (String[] b : bad) {
            String[] args = new String[b.length + 3];
            args[0] = "factorize";
            args[1] = "--model";
            args[2] = zip.toString();
            System.arraycopy(b, 1, args, 3, b.length - 1);
            args[args.length - 1] = "--out=" + dir.resolve("never");
            CliRun x = CliRun.run(args);
            assertEquals(2, x.code(), x.err());
            assertTrue(x.lastErr().contains(b[0]) || x.err().contains(b[0]), "expected '" + b[0] + "' in " + x.err());
            assertFalse(dir.resolve("never").toFile().exists());
        }
    }
}
