package io.squeeze.model;

import io.squeeze.lowrank.LayerFactors;
import io.squeeze.lowrank.SvdMethod;
import io.squeeze.quantize.LstmRuntimeTest;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** {@link FactoredLstm} and {@link FactoredSimpleRnn}: what they compute, how their factors learn, and that they travel as DL4J layers do. */
class FactoredRecurrentTest {
    static final int ROWS = 7;

    static Factorization.Factors factors(MultiLayerNetwork net, int layer, String param, int k) {
        INDArray w = net.getLayer(layer).getParam(param);
        return LayerFactors.factor(w.dup('c').data().asFloat(), (int) w.rows(), (int) w.columns(), k, new SvdMethod.Exact()).factors();
    }

    static INDArray product(Factorization.Factors f, long rows, long cols) {
        return Nd4j.create(f.a(), new long[]{rows, f.rank()}, 'c').mmul(Nd4j.create(f.b(), new long[]{f.rank(), cols}, 'c'));
    }

    static INDArray input(long seed) {
        Random r = new Random(seed);
        float[] v = new float[ROWS * LstmRuntimeTest.STEPS * LstmRuntimeTest.FEATURES];
        for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextDouble() * 2 - 1);
        return Nd4j.create(v, new long[]{ROWS, LstmRuntimeTest.STEPS * LstmRuntimeTest.FEATURES}, 'c');
    }

    static INDArray labels() {
        INDArray y = Nd4j.zeros(ROWS, 3);
        for (int i = 0; i < ROWS; i++) y.putScalar(i, i % 3, 1);
        return y;
    }

    /** Layer 0 (6 units on 3 features) factored at W rank 2 and RW rank 3, and the plain LSTM holding the products. */
    record Pair(MultiLayerNetwork factored, MultiLayerNetwork plain, Factorization.RecurrentFactors f) {}

    static Pair pair() {
        MultiLayerNetwork net = LstmRuntimeTest.net(5);
        var f = new Factorization.RecurrentFactors(factors(net, 0, "W", 2), factors(net, 0, "RW", 3));
        MultiLayerNetwork factored = Factorization.rewrite(net, Map.of(), Map.of(0, f));
        MultiLayerNetwork plain = net.clone();
        plain.getLayer(0).setParam("W", product(f.w(), 3, 24));
        plain.getLayer(0).setParam("RW", product(f.rw(), 6, 24));
        return new Pair(factored, plain, f);
    }

    @Test
    void aFactoredLstmComputesTheLstmOfItsProducts() {
        Pair p = pair();
        var l = (FactoredLstm) p.factored().getLayer(0).conf().getLayer();
        assertEquals(2, l.getInRank());
        assertEquals(3, l.getRecRank());
        assertEquals(java.util.List.of("WA", "WB", "RWA", "RWB", "b"), java.util.List.copyOf(p.factored().getLayer(0).paramTable().keySet()));
        assertEquals(2 * (3 + 24) + 3 * (6 + 24) + 24, p.factored().getLayer(0).numParams());
        assertEquals(p.plain().numParams() - (3 * 24 + 6 * 24) + 2 * 27 + 3 * 30, p.factored().numParams());
        INDArray x = input(1);
        INDArray a = p.factored().output(x), b = p.plain().output(x);
        assertEquals(0, a.sub(b).amaxNumber().doubleValue(), 1e-5);
        // a low rank changes the outputs: the comparison above is not between two copies of the original
        assertTrue(LstmRuntimeTest.net(5).output(x).sub(a).amaxNumber().doubleValue() > 1e-3);
    }

    @Test
    void atFullRankTheFactoredLstmIsTheOriginal() {
        MultiLayerNetwork net = LstmRuntimeTest.net(6);
        var f = new Factorization.RecurrentFactors(factors(net, 1, "W", 6), factors(net, 1, "RW", 5));
        MultiLayerNetwork factored = Factorization.rewrite(net, Map.of(), Map.of(1, f));
        INDArray x = input(2);
        assertEquals(0, factored.output(x).sub(net.output(x)).amaxNumber().doubleValue(), 1e-5);
        // one matrix kept whole: rank 0
        MultiLayerNetwork onlyRw = Factorization.rewrite(net, Map.of(), Map.of(1, new Factorization.RecurrentFactors(null, factors(net, 1, "RW", 5))));
        assertEquals(java.util.List.of("W", "RWA", "RWB", "b"), java.util.List.copyOf(onlyRw.getLayer(1).paramTable().keySet()));
        assertEquals(0, onlyRw.output(x).sub(net.output(x)).amaxNumber().doubleValue(), 1e-5);
    }

    @Test
    void theFactorsGradientsFollowFromTheProductsByTheChainRule() {
        Pair p = pair();
        INDArray x = input(3), y = labels();
        for (MultiLayerNetwork n : new MultiLayerNetwork[]{p.factored(), p.plain()}) {
            n.setInput(x);
            n.setLabels(y);
            n.computeGradientAndScore();
        }
        assertEquals(p.plain().score(), p.factored().score(), 1e-6);
        var gf = p.factored().gradient();
        var gp = p.plain().gradient();
        INDArray gw = gp.getGradientFor("0_W"), grw = gp.getGradientFor("0_RW");
        INDArray wa = p.factored().getLayer(0).getParam("WA"), wb = p.factored().getLayer(0).getParam("WB");
        INDArray rwa = p.factored().getLayer(0).getParam("RWA"), rwb = p.factored().getLayer(0).getParam("RWB");
        assertClose(gw.mmul(wb.transpose()), gf.getGradientFor("0_WA"));
        assertClose(wa.transpose().mmul(gw), gf.getGradientFor("0_WB"));
        assertClose(grw.mmul(rwb.transpose()), gf.getGradientFor("0_RWA"));
        assertClose(rwa.transpose().mmul(grw), gf.getGradientFor("0_RWB"));
        assertClose(gp.getGradientFor("0_b"), gf.getGradientFor("0_b"));
        assertClose(gp.getGradientFor("1_RW"), gf.getGradientFor("1_RW"));
        assertTrue(gf.getGradientFor("0_RWA").amaxNumber().doubleValue() > 1e-4, "a gradient that is not zero");
        // the flat gradient the updater reads holds the same values
        INDArray flat = p.factored().getFlattenedGradients();
        assertEquals(p.factored().numParams(), flat.length());
        assertEquals(gf.getGradientFor("0_WA").sumNumber().doubleValue(), p.factored().getLayer(0).getGradientsViewArray().get(
                org.nd4j.linalg.indexing.NDArrayIndex.point(0), org.nd4j.linalg.indexing.NDArrayIndex.interval(0, 2 * 3)).sumNumber().doubleValue(), 1e-6);
    }

    @Test
    void itTrainsItsFactorsAndComesBackFromJsonAndAZip() throws Exception {
        Pair p = pair();
        MultiLayerNetwork n = p.factored();
        DataSet d = new DataSet(input(4), labels());
        n.setInput(d.getFeatures());
        n.setLabels(d.getLabels());
        n.computeGradientAndScore();
        double before = n.score();
        INDArray rwa = n.getLayer(0).getParam("RWA").dup();
        for (int i = 0; i < 100; i++) n.fit(d);
        n.computeGradientAndScore();
        assertTrue(n.score() < before * 0.9, "loss " + before + " -> " + n.score());
        assertTrue(n.getLayer(0).getParam("RWA").sub(rwa).amaxNumber().doubleValue() > 1e-4, "the recurrent factor moved");

        MultiLayerConfiguration back = MultiLayerConfiguration.fromJson(n.getLayerWiseConfigurations().toJson());
        assertEquals(n.getLayer(0).conf().getLayer(), back.getConf(0).getLayer());
        ByteArrayOutputStream zip = new ByteArrayOutputStream();
        ModelSerializer.writeModel(n, zip, true);
        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(new ByteArrayInputStream(zip.toByteArray()), true);
        assertInstanceOf(FactoredLstmLayer.class, restored.getLayer(0));
        INDArray x = input(5);
        assertEquals(0, restored.output(x).sub(n.output(x)).amaxNumber().doubleValue(), 0);
        assertEquals(0, NetPayload.of(n).build().output(x).sub(n.output(x)).amaxNumber().doubleValue(), 0);
    }

    @Test
    void theRuntimeAndItsExportRunTheProducts() {
        Pair p = pair();
        var ops = NetOps.of(p.factored());
        var plainOps = NetOps.of(p.plain());
        float[] a = ((NetOps.Rnn) ops.get(0)).w(), b = ((NetOps.Rnn) plainOps.get(0)).w();
        assertEquals(b.length, a.length);
        for (int i = 0; i < a.length; i++) assertEquals(b[i], a[i], 1e-5);
    }

    @Test
    void aLayerNormalizedSimpleRnnIsRefusedByName() {
        var conf = new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder().list()
                .layer(new org.deeplearning4j.nn.conf.layers.recurrent.SimpleRnn.Builder().nIn(3).nOut(4).hasLayerNorm(true)
                        .dataFormat(org.deeplearning4j.nn.conf.RNNFormat.NWC).name("ln_rnn").build())
                .layer(new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder().nIn(4).nOut(2).build())
                .inputPreProcessor(0, new SequenceRows(2, 3)).inputPreProcessor(1, new LastStep(2)).build();
        var e = assertThrows(io.squeeze.core.BadInputException.class, () -> LayerSupport.check(conf, "model m.zip"));
        assertEquals("model m.zip: layer 0 ('ln_rnn') is a SimpleRnn with layer normalization, which Squeeze does not support", e.getMessage());
    }

    @Test
    void ranksOutsideTheMatrixAreRefused() {
        var lstm = (org.deeplearning4j.nn.conf.layers.LSTM) LstmRuntimeTest.net(1).getLayer(0).conf().getLayer();
        var e = assertThrows(io.squeeze.core.BadInputException.class, () -> FactoredLstm.of(lstm, 4, 1));
        assertTrue(e.getMessage().contains("the input rank of LSTM") && e.getMessage().contains("[0, 3], got 4"), e.getMessage());
    }

    static void assertClose(INDArray expected, INDArray actual) {
        assertArrayEquals(expected.shape(), actual.shape());
        double scale = Math.max(1e-3, expected.amaxNumber().doubleValue());
        assertEquals(0, expected.sub(actual).amaxNumber().doubleValue() / scale, 1e-4);
    }

    @Test
    void aFactoredSimpleRnnComputesTheProductsAndLearnsItsFactorsByTheChainRule() throws Exception {
        MultiLayerNetwork net = io.squeeze.quantize.SimpleRnnRuntimeTest.net(9);
        var f = new Factorization.RecurrentFactors(factors(net, 0, "W", 2), factors(net, 0, "RW", 3));
        MultiLayerNetwork factored = Factorization.rewrite(net, Map.of(), Map.of(0, f));
        assertInstanceOf(FactoredSimpleRnnLayer.class, factored.getLayer(0));
        assertEquals(2 * (3 + 6) + 3 * (6 + 6) + 6, factored.getLayer(0).numParams());
        MultiLayerNetwork plain = net.clone();
        plain.getLayer(0).setParam("W", product(f.w(), 3, 6));
        plain.getLayer(0).setParam("RW", product(f.rw(), 6, 6));
        INDArray x = input(6), y = labels();
        assertEquals(0, factored.output(x).sub(plain.output(x)).amaxNumber().doubleValue(), 1e-5);
        for (MultiLayerNetwork n : new MultiLayerNetwork[]{factored, plain}) {
            n.setInput(x);
            n.setLabels(y);
            n.computeGradientAndScore();
        }
        var gf = factored.gradient();
        var gp = plain.gradient();
        INDArray grw = gp.getGradientFor("0_RW"), gw = gp.getGradientFor("0_W");
        assertClose(grw.mmul(factored.getLayer(0).getParam("RWB").transpose()), gf.getGradientFor("0_RWA"));
        assertClose(factored.getLayer(0).getParam("RWA").transpose().mmul(grw), gf.getGradientFor("0_RWB"));
        assertClose(gw.mmul(factored.getLayer(0).getParam("WB").transpose()), gf.getGradientFor("0_WA"));
        assertClose(gp.getGradientFor("0_b"), gf.getGradientFor("0_b"));
        double before = factored.score();
        DataSet d = new DataSet(x, y);
        for (int i = 0; i < 100; i++) factored.fit(d);
        factored.computeGradientAndScore();
        assertTrue(factored.score() < before * 0.9, "loss " + before + " -> " + factored.score());
        ByteArrayOutputStream zip = new ByteArrayOutputStream();
        ModelSerializer.writeModel(factored, zip, true);
        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(new ByteArrayInputStream(zip.toByteArray()), true);
        assertEquals(factored.getLayer(0).conf().getLayer(), restored.getLayer(0).conf().getLayer());
        assertEquals(0, restored.output(x).sub(factored.output(x)).amaxNumber().doubleValue(), 0);
    }
}
