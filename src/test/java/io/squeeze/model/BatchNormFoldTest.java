package io.squeeze.model;

import io.squeeze.TestModels;
import io.squeeze.core.BadInputException;
import io.squeeze.core.Mask;
import io.squeeze.core.TensorKey;
import io.squeeze.quantize.Observer;
import io.squeeze.quantize.QuantConfig;
import io.squeeze.quantize.QuantRunner;
import io.squeeze.quantize.QuantizedModel;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Batch normalization folded into the dense layer or convolution before it computes, at inference, what DL4J computes
 * with the batch normalization (random statistics, both of DL4J's variance encodings), as a network with fewer layers
 * and as the plain ops of the integer runtime.
 */
class BatchNormFoldTest {
    static INDArray rows(int n, long seed) {
        Nd4j.getRandom().setSeed(seed);
        return Nd4j.rand(DataType.FLOAT, n, 144);
    }

    static void assertClose(INDArray want, INDArray got, double tol) {
        double d = want.sub(got).amax().getDouble(0);
        assertTrue(d < tol, "max difference " + d);
    }

    @Test
    void foldedNetworkComputesTheSameOutputsWithoutTheBatchNormalizations() {
        for (boolean logStd : new boolean[]{true, false}) {
            MultiLayerNetwork net = TestModels.bnConvNet(5, logStd);
            INDArray x = rows(20, 1);
            BatchNormFold.Folded f = BatchNormFold.fold(net);
            assertEquals(Map.of(1, 0, 5, 4, 7, 6), f.folded());
            assertEquals(7, f.net().getnLayers());
            assertArrayEquals(new int[]{0, 0, 1, 2, 3, 3, 4, 4, 5, 6}, f.toFolded());
            assertArrayEquals(new int[]{0, 2, 3, 4, 6, 8, 9}, f.original());
            for (int i = 0; i < f.net().getnLayers(); i++)
                assertFalse(f.net().getLayer(i).conf().getLayer() instanceof BatchNormalization, "layer " + i);
            var conv1 = (ConvolutionLayer) f.net().getLayer(0).conf().getLayer();
            assertTrue(conv1.hasBias(), "the folded shift needs a bias");
            assertEquals("identity", ((ConvolutionLayer) f.net().getLayer(3).conf().getLayer()).getActivationFn().toString(),
                    "DL4J ignores a batch normalization's activation (bn2 is configured with ReLU): the host keeps the identity");
            assertTrue(net.feedForward(x, false).get(6).minNumber().doubleValue() < 0, "bn2's outputs are not ReLU'd by DL4J");
            INDArray want = net.output(x), got = f.net().output(x);
            assertClose(want, got, 1e-5);
            assertTrue(want.argMax(1).equals(got.argMax(1)));
        }
    }

    @Test
    void theOpsFoldTheBatchNormalizationsAndRunAsDl4j() {
        MultiLayerNetwork net = TestModels.bnConvNet(9, true);
        List<NetOps.Op> ops = NetOps.of(net);
        assertEquals(List.of(0, 2, 3, 4, 6, 8, 9), ops.stream().filter(o -> !(o instanceof NetOps.Reshape)).map(NetOps.Op::layer).toList(),
                "ops keep their host layer's index; no batch normalization op remains");
        INDArray x = rows(9, 2);
        QuantConfig cfg = new QuantConfig(QuantConfig.Mode.STATIC, QuantConfig.Precision.INT8, QuantConfig.Granularity.CHANNEL,
                QuantConfig.Scheme.SYMMETRIC, false, new Observer.MinMax(), List.of());
        float[] ours = new QuantRunner(QuantizedModel.quantizeWeights(ops, cfg, Map.of())).run(x.dup('c').data().asFloat(), 9, 144, QuantRunner.Path.FLOAT, null);
        assertClose(net.output(x), Nd4j.create(ours, new long[]{9, 10}, 'c'), 1e-5);
        // the folded network's ops carry the same weights as the unfolded network's folded ops
        List<NetOps.Op> folded = NetOps.of(BatchNormFold.fold(net).net());
        NetOps.Conv a = (NetOps.Conv) ops.get(1), b = (NetOps.Conv) folded.get(1);
        assertArrayEquals(a.w(), b.w(), 1e-6f);
        assertArrayEquals(a.b(), b.b(), 1e-6f);
    }

    @Test
    void foldingByHandMatchesTheFormula() {
        // dense W [2 in, 3 out] with b; BN gamma, beta, mean, var, eps 1e-5: a = γ/√(σ²+ε), W' = a·W per column, b' = a·b + β − a·μ
        float[] w = {1, 2, 3, 4, 5, 6}, b = {0.5f, -1, 2};
        double[] scale = {2, 0.5, -1}, shift = {1, 0, 3};
        float[][] wb = BatchNormFold.fold(w, b, true, new BatchNormFold.Affine(scale, shift));
        assertArrayEquals(new float[]{2, 1, -3, 8, 2.5f, -6}, wb[0]);
        assertArrayEquals(new float[]{2, -0.5f, 1}, wb[1]);
        // a convolution [2 out, 1 in, 1, 2]: the channel is the leading axis, no bias
        wb = BatchNormFold.fold(new float[]{1, 2, 3, 4}, null, false, new BatchNormFold.Affine(new double[]{3, -2}, new double[]{0.25, 1}));
        assertArrayEquals(new float[]{3, 6, -6, -8}, wb[0]);
        assertArrayEquals(new float[]{0.25f, 1}, wb[1]);
    }

    @Test
    void masksFollowTheirLayersAndAFoldedBiasIsNoLongerMasked() {
        MultiLayerNetwork net = TestModels.bnConvNet(3, false);
        BatchNormFold.Folded f = BatchNormFold.fold(net);
        Mask m = Mask.of(new boolean[]{true, false});
        Map<TensorKey, Mask> out = BatchNormFold.masks(Map.of(TensorKey.weights(4), m, TensorKey.bias(4), m, TensorKey.weights(9), m,
                new TensorKey(5, "gamma"), m), f);
        assertEquals(Map.of(TensorKey.weights(3), m, TensorKey.weights(6), m), out);
    }

    @Test
    void aBatchNormalizationThatDoesNotFollowAWeightedLayerIsRefusedByTheOpsAndKeptByTheFold() {
        var conf = new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder().seed(1).list()
                .layer(new DenseLayer.Builder().nIn(4).nOut(3).activation(org.nd4j.linalg.activations.Activation.RELU).build())
                .layer(new BatchNormalization.Builder().nOut(3).build())
                .layer(new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder().nIn(3).nOut(2).build()).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        BadInputException e = assertThrows(BadInputException.class, () -> NetOps.of(net));
        assertEquals("layer 1 is a BatchNormalization that does not directly follow a dense layer or convolution without activation"
                + " (only such a batch normalization folds into the layer before it), which the quantized runtime does not support", e.getMessage());
        BatchNormFold.Folded f = BatchNormFold.fold(net);
        assertSame(net, f.net(), "nothing folds after a ReLU");
        assertTrue(f.folded().isEmpty());
    }
}
