package io.squeeze.model;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.nd4j.linalg.ops.transforms.Transforms;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Max pooling's forward and backward passes as Java loops train LeNet-5 to DL4J's weights and scores bit for bit, and
 * a pooling layer's output and input gradient equal both oneDNN's helper's and libnd4j's own ops' on inputs full of
 * ties (zeros of both signs included) with gradients holding −0; what it does not compute takes DL4J's path.
 */
class JavaMaxPoolTest {
    private static MultiLayerNetwork lenet(double dropout) {
        Dl4jHelpers.enable();
        MultiLayerConfiguration conf = Architectures.build(new Arch.LeNet5(), 144, 10, new int[]{12, 12, 1},
                new Architectures.Hyper(7, 1e-2, 0, dropout > 0 ? 0.2 : 0, dropout, null), null);
        MultiLayerNetwork n = new MultiLayerNetwork(conf);
        n.init();
        return n;
    }

    @Test
    void trainsLeNet5ToDl4jsWeightsAndScoresBitForBit() {
        for (double dropout : new double[]{0, 0.3}) {
            MultiLayerNetwork java = lenet(dropout), dl4j = lenet(dropout);
            dl4j.params().assign(java.params());
            TrainingKernels.install(java);
            DenseForwardOnce.install(dl4j); // every other kernel, so only the pooling differs
            OutputForwardOnce.install(dl4j);
            JavaAdam.install(dl4j);
            ConvForwardOnce.install(dl4j);
            InputConvGradients.install(dl4j);
            StepRelu.install(dl4j);
            assertEquals(org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingLayer.class, dl4j.getLayer(1).getClass());
            for (int s = 0; s < 6; s++) {
                var d = ConvForwardOnceTest.batch(s);
                for (MultiLayerNetwork n : new MultiLayerNetwork[]{java, dl4j}) {
                    Nd4j.getRandom().setSeed(1000 + s);
                    n.fit(d);
                }
                assertEquals(dl4j.score(), java.score(), 0.0, "step " + s);
            }
            assertArrayEquals(dl4j.params().toFloatVector(), java.params().toFloatVector(), 0f, "dropout " + dropout);
            INDArray x = ConvForwardOnceTest.batch(9).getFeatures();
            assertEquals(dl4j.output(x), java.output(x));
            for (int layer : new int[]{1, 3}) {
                JavaMaxPool pool = (JavaMaxPool) java.getLayer(layer);
                assertEquals(7, pool.forwards(), "six training steps and one inference");
                assertEquals(6, pool.backwards());
                assertEquals(6, pool.reused(), "every backward pass scattered through the forward pass's maxima");
            }
            assertFalse(java.getLayerWiseConfigurations().toJson().contains("JavaMaxPool"));
        }
    }

    /** {@code pool}'s output and input gradient for {@code x} and {@code eps}. */
    private static INDArray[] passes(Layer pool, INDArray x, INDArray eps) {
        var mgr = LayerWorkspaceMgr.noWorkspaces();
        pool.setInput(x.dup(), mgr);
        INDArray out = pool.activate(true, mgr).dup();
        INDArray grad = pool.backpropGradient(eps.dup(), mgr).getSecond().dup();
        return new INDArray[]{out, grad};
    }

    @Test
    void equalsOneDnnAndLibnd4jOnTiesAndSignedZeros() {
        MultiLayerNetwork dl4j = lenet(0), java = lenet(0);
        assertEquals(2, JavaMaxPool.install(java));
        assertEquals(2, JavaMaxPool.install(java), "idempotent");
        Layer reference = dl4j.getLayer(1), mine = java.getLayer(1); // 2x2, stride 2, after the first convolution
        assertNotNull(Dl4jFields.get(org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingLayer.class, "helper", reference, Object.class),
                "oneDNN's helper");
        Nd4j.getRandom().setSeed(3);
        // values in {-1, -0.5, -0, 0, 0.5, 1}: most windows hold ties, zeros of both signs among them
        INDArray x = Transforms.round(Nd4j.rand(DataType.FLOAT, 16, 6, 12, 12).muli(4).subi(2)).divi(2);
        x.get(org.nd4j.linalg.indexing.NDArrayIndex.point(0)).assign(0); // a whole example of zeros
        x.get(org.nd4j.linalg.indexing.NDArrayIndex.point(1)).assign(-0f); // and one of negative zeros
        long negativeZeros = 0;
        for (float v : x.data().asFloat()) if (Float.floatToRawIntBits(v) == 0x80000000) negativeZeros++;
        assertTrue(negativeZeros > 16 * 144, "negative zeros: " + negativeZeros);
        INDArray eps = Nd4j.rand(DataType.FLOAT, 16, 6, 6, 6).subi(0.5);
        eps.putScalar(new long[]{0, 0, 0, 0}, -0f);
        eps.putScalar(new long[]{1, 2, 3, 4}, -0f);
        INDArray[] got = passes(mine, x, eps);
        assertEquals(1, ((JavaMaxPool) mine).forwards());
        assertEquals(1, ((JavaMaxPool) mine).backwards());
        assertEquals(1, ((JavaMaxPool) mine).reused(), "the gradient scattered through the forward pass's maxima");
        for (boolean oneDnn : new boolean[]{true, false}) {
            if (!oneDnn) Dl4jFields.set(org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingLayer.class, "helper", reference, null);
            INDArray[] ref = passes(reference, x, eps);
            assertArrayEquals(StepReluTest.bits(ref[0]), StepReluTest.bits(got[0]), "output, oneDNN " + oneDnn);
            assertArrayEquals(StepReluTest.bits(ref[1]), StepReluTest.bits(got[1]), "input gradient, oneDNN " + oneDnn);
        }
        // a hand-checked window: the first of two equal maxima in row-major order takes the gradient
        INDArray one = Nd4j.zeros(DataType.FLOAT, 1, 6, 12, 12), g = Nd4j.zeros(DataType.FLOAT, 1, 6, 6, 6);
        one.putScalar(new long[]{0, 0, 0, 1}, 5f);
        one.putScalar(new long[]{0, 0, 1, 0}, 5f);
        g.putScalar(new long[]{0, 0, 0, 0}, 0.25f);
        INDArray[] hand = passes(mine, one, g);
        assertEquals(5f, hand[0].getFloat(0, 0, 0, 0));
        assertEquals(0.25f, hand[1].getFloat(0, 0, 0, 1));
        assertEquals(0f, hand[1].getFloat(0, 0, 1, 0));
        assertEquals(0.25, hand[1].sumNumber().doubleValue(), 0);
    }

    @Test
    void windowsThatDoNotTileTheInputEqualDl4jsToo() {
        // {height, width, kh, kw, sh, sw}: a 2x2 stride-2 truncation leaving a row and a column out, 3x3 and 2x3 windows
        for (int[] c : new int[][]{{13, 13, 2, 2, 2, 2}, {12, 12, 3, 3, 3, 3}, {10, 12, 2, 3, 2, 3}, {11, 9, 3, 2, 3, 2}}) {
            var conf = new NeuralNetConfiguration.Builder().seed(1).list()
                    .layer(new SubsamplingLayer.Builder(SubsamplingLayer.PoolingType.MAX).kernelSize(c[2], c[3]).stride(c[4], c[5]).build())
                    .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3).activation(Activation.SOFTMAX).build())
                    .setInputType(InputType.convolutionalFlat(c[0], c[1], 3)).build();
            MultiLayerNetwork a = new MultiLayerNetwork(conf.clone()), b = new MultiLayerNetwork(conf.clone());
            a.init();
            b.init();
            assertEquals(1, JavaMaxPool.install(b));
            Nd4j.getRandom().setSeed(11);
            INDArray x = Transforms.round(Nd4j.rand(DataType.FLOAT, 4, 3, c[0], c[1]).muli(4).subi(2)).divi(2); // ties
            int oh = (c[0] - c[2]) / c[4] + 1, ow = (c[1] - c[3]) / c[5] + 1;
            INDArray eps = Nd4j.rand(DataType.FLOAT, 4, 3, oh, ow).subi(0.5);
            INDArray[] ref = passes(a.getLayer(0), x, eps), got = passes(b.getLayer(0), x, eps);
            String what = java.util.Arrays.toString(c);
            assertEquals(1, ((JavaMaxPool) b.getLayer(0)).forwards(), what);
            assertArrayEquals(StepReluTest.bits(ref[0]), StepReluTest.bits(got[0]), "output " + what);
            assertArrayEquals(StepReluTest.bits(ref[1]), StepReluTest.bits(got[1]), "input gradient " + what);
        }
    }

    @Test
    void aBackwardPassOfAnotherInputThanTheLastForwardPassScansItsOwnWindows() {
        MultiLayerNetwork dl4j = lenet(0), java = lenet(0);
        JavaMaxPool.install(java);
        JavaMaxPool pool = (JavaMaxPool) java.getLayer(1);
        Layer reference = dl4j.getLayer(1);
        Nd4j.getRandom().setSeed(5);
        INDArray a = Nd4j.rand(DataType.FLOAT, 4, 6, 12, 12), b = Nd4j.rand(DataType.FLOAT, 4, 6, 12, 12), eps = Nd4j.rand(DataType.FLOAT, 4, 6, 6, 6);
        var mgr = LayerWorkspaceMgr.noWorkspaces();
        pool.setInput(a.dup(), mgr);
        pool.activate(true, mgr);
        INDArray bIn = b.dup();
        pool.setInput(bIn, mgr); // b's gradient asked for after a's forward pass
        INDArray got = pool.backpropGradient(eps.dup(), mgr).getSecond().dup();
        assertEquals(0, pool.reused());
        assertEquals(1, pool.backwards());
        reference.setInput(b.dup(), mgr);
        reference.activate(true, mgr);
        assertArrayEquals(StepReluTest.bits(reference.backpropGradient(eps.dup(), mgr).getSecond()), StepReluTest.bits(got));
        // the same buffer changed in place after the forward pass: scanned afresh too
        pool.setInput(bIn, mgr);
        pool.activate(true, mgr);
        bIn.assign(a);
        got = pool.backpropGradient(eps.dup(), mgr).getSecond().dup();
        assertEquals(0, pool.reused());
        reference.setInput(a.dup(), mgr);
        reference.activate(true, mgr);
        assertArrayEquals(StepReluTest.bits(reference.backpropGradient(eps.dup(), mgr).getSecond()), StepReluTest.bits(got));
        passes(pool, b, eps);
        assertEquals(1, pool.reused(), "the forward pass's own input");
    }

    @Test
    void whatItDoesNotComputeTakesDl4jsPath() {
        MultiLayerNetwork dl4j = lenet(0), java = lenet(0);
        JavaMaxPool.install(java);
        JavaMaxPool pool = (JavaMaxPool) java.getLayer(1);
        INDArray x = Nd4j.rand(DataType.FLOAT, 2, 6, 12, 12), eps = Nd4j.rand(DataType.FLOAT, 2, 6, 6, 6);
        for (float bad : new float[]{Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            INDArray in = x.dup();
            in.putScalar(new long[]{1, 3, 4, 5}, bad);
            INDArray[] got = passes(pool, in, eps), ref = passes(dl4j.getLayer(1), in, eps);
            assertEquals(0, pool.forwards() + pool.backwards(), "an input holding " + bad + " takes DL4J's path");
            assertArrayEquals(StepReluTest.bits(ref[0]), StepReluTest.bits(got[0]), "output, " + bad);
            assertArrayEquals(StepReluTest.bits(ref[1]), StepReluTest.bits(got[1]), "input gradient, " + bad);
        }
        // a forward pass that met a NaN after scanning some windows leaves no maxima that pass for another input's
        var mgr = LayerWorkspaceMgr.noWorkspaces();
        INDArray finite = Nd4j.rand(DataType.FLOAT, 2, 6, 12, 12), nan = finite.dup();
        nan.putScalar(new long[]{1, 5, 11, 11}, Float.NaN); // the last window: every other window of it was scanned
        pool.setInput(finite.dup(), mgr);
        pool.activate(true, mgr);
        pool.setInput(nan, mgr);
        pool.activate(true, mgr);
        pool.setInput(finite.dup(), mgr);
        INDArray afresh = pool.backpropGradient(eps.dup(), mgr).getSecond().dup();
        assertEquals(0, pool.reused(), "scanned again, not taken for the kept copy");
        assertArrayEquals(StepReluTest.bits(passes(dl4j.getLayer(1), finite, eps)[1]), StepReluTest.bits(afresh));
        // overlapping windows and average pooling: DL4J's path, the same outputs
        for (var type : new SubsamplingLayer.PoolingType[]{SubsamplingLayer.PoolingType.MAX, SubsamplingLayer.PoolingType.AVG}) {
            int kernel = type == SubsamplingLayer.PoolingType.MAX ? 3 : 2;
            var conf = new NeuralNetConfiguration.Builder().seed(1).list()
                    .layer(new SubsamplingLayer.Builder(type).kernelSize(kernel, kernel).stride(2, 2).build())
                    .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3).activation(Activation.SOFTMAX).build())
                    .setInputType(InputType.convolutionalFlat(12, 12, 2)).build();
            MultiLayerNetwork a = new MultiLayerNetwork(conf.clone()), b = new MultiLayerNetwork(conf.clone());
            a.init();
            b.init();
            b.params().assign(a.params());
            assertEquals(1, JavaMaxPool.install(b));
            INDArray in = Nd4j.rand(DataType.FLOAT, 4, 288);
            assertEquals(a.output(in), b.output(in));
            assertEquals(0, ((JavaMaxPool) b.getLayer(0)).forwards(), type + " " + kernel + "x" + kernel);
        }
        assertEquals(0, JavaMaxPool.install(new MultiLayerNetwork(Architectures.build(new Arch.Mlp(new int[]{8}), 16, 3, null,
                new Architectures.Hyper(1, 1e-2, 0), null))), "no pooling layer");
    }
}
