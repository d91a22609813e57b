package io.squeeze.model;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingHelper;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Max pooling's backward pass as a Java loop trains LeNet-5 to DL4J's weights bit for bit, and a pooling layer's input
 * gradient equals both oneDNN's helper's and DL4J's built-in op's on inputs full of ties, with gradients of both signs
 * of zero; what it does not compute goes to the layer's own helper.
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

    private static DataSet batch(int seed) {
        return ConvForwardOnceTest.batch(seed);
    }

    private static long passes(MultiLayerNetwork n, int layer) {
        return ((JavaMaxPool) JavaMaxPool.helper(n.getLayer(layer))).passes();
    }

    @Test
    void trainsLeNet5ToDl4jsWeightsBitForBit() {
        for (double dropout : new double[]{0, 0.3}) {
            MultiLayerNetwork java = lenet(dropout), dl4j = lenet(dropout);
            dl4j.params().assign(java.params());
            TrainingKernels.install(java);
            JavaAdam.install(dl4j); // every other kernel, so only the pooling differs
            ConvForwardOnce.install(dl4j);
            InputConvGradients.install(dl4j);
            StepRelu.install(dl4j);
            assertFalse(JavaMaxPool.helper(dl4j.getLayer(1)) instanceof JavaMaxPool);
            assertNotNull(((JavaMaxPool) JavaMaxPool.helper(java.getLayer(1))).own(), "oneDNN's helper is the one it replaces");
            for (int s = 0; s < 6; s++) {
                DataSet d = batch(s);
                for (MultiLayerNetwork n : new MultiLayerNetwork[]{java, dl4j}) {
                    Nd4j.getRandom().setSeed(1000 + s);
                    n.fit(d);
                }
                assertEquals(dl4j.score(), java.score(), 0.0, "step " + s);
            }
            assertArrayEquals(dl4j.params().toFloatVector(), java.params().toFloatVector(), 0f, "dropout " + dropout);
            assertEquals(dl4j.output(batch(9).getFeatures()), java.output(batch(9).getFeatures()));
            // each pooling layer's backward pass, every step
            assertEquals(6, passes(java, 1));
            assertEquals(6, passes(java, 3));
        }
    }

    /** The pooling layer's forward output and input gradient for {@code x} and {@code eps}, with {@code helper} installed. */
    private static INDArray[] passes(Layer pool, SubsamplingHelper helper, INDArray x, INDArray eps) {
        JavaMaxPool.setHelper(pool, helper);
        var mgr = LayerWorkspaceMgr.noWorkspaces();
        pool.setInput(x.dup(), mgr);
        INDArray out = pool.activate(true, mgr).dup();
        INDArray grad = pool.backpropGradient(eps.dup(), mgr).getSecond().dup();
        return new INDArray[]{out, grad};
    }

    @Test
    void equalsOneDnnAndDl4jsOwnOpsOnTiesAndSignedZeros() {
        MultiLayerNetwork n = lenet(0);
        Layer pool = n.getLayer(1); // 2x2, stride 2, after the first convolution (16 x 6 x 12 x 12 here)
        SubsamplingHelper oneDnn = JavaMaxPool.helper(pool);
        assertNotNull(oneDnn);
        Nd4j.getRandom().setSeed(3);
        // values in {-1, -0.5, 0, 0.5, 1} and ReLU-like zeros: most windows have ties, many all-zero windows
        INDArray x = Transforms.round(Nd4j.rand(DataType.FLOAT, 16, 6, 12, 12).muli(4).subi(2)).divi(2);
        x.get(org.nd4j.linalg.indexing.NDArrayIndex.point(0)).assign(0); // a whole example of zeros
        INDArray eps = Nd4j.rand(DataType.FLOAT, 16, 6, 6, 6).subi(0.5);
        eps.putScalar(new long[]{0, 0, 0, 0}, -0f);
        eps.putScalar(new long[]{1, 2, 3, 4}, -0f);
        INDArray[] java = passes(pool, new JavaMaxPool(oneDnn), x, eps);
        for (SubsamplingHelper reference : new SubsamplingHelper[]{oneDnn, null}) {
            INDArray[] ref = passes(pool, reference, x, eps);
            assertArrayEquals(bits(ref[0]), bits(java[0]), "forward, " + reference);
            assertArrayEquals(bits(ref[1]), bits(java[1]), "input gradient, " + reference);
        }
        // a hand-checked window: the first of two equal maxima in row-major order takes the gradient
        INDArray one = Nd4j.zeros(DataType.FLOAT, 1, 6, 12, 12), g = Nd4j.zeros(DataType.FLOAT, 1, 6, 6, 6);
        one.putScalar(new long[]{0, 0, 0, 1}, 5f);
        one.putScalar(new long[]{0, 0, 1, 0}, 5f);
        g.putScalar(new long[]{0, 0, 0, 0}, 0.25f);
        INDArray[] mine = passes(pool, new JavaMaxPool(oneDnn), one, g);
        assertEquals(5f, mine[0].getFloat(0, 0, 0, 0));
        assertEquals(0.25f, mine[1].getFloat(0, 0, 0, 1));
        assertEquals(0f, mine[1].getFloat(0, 0, 1, 0));
        assertEquals(0.25, mine[1].sumNumber().doubleValue(), 0);
    }

    @Test
    void whatItDoesNotComputeGoesToTheLayersOwnHelper() {
        MultiLayerNetwork n = lenet(0);
        Layer pool = n.getLayer(1);
        SubsamplingHelper oneDnn = JavaMaxPool.helper(pool);
        INDArray x = Nd4j.rand(DataType.FLOAT, 2, 6, 12, 12), eps = Nd4j.rand(DataType.FLOAT, 2, 6, 6, 6);
        x.putScalar(new long[]{1, 3, 4, 5}, Float.NaN);
        JavaMaxPool java = new JavaMaxPool(oneDnn);
        INDArray[] mine = passes(pool, java, x, eps), ref = passes(pool, oneDnn, x, eps);
        assertEquals(0, java.passes(), "an input with a NaN goes to oneDNN");
        assertArrayEquals(bits(ref[0]), bits(mine[0]));
        assertArrayEquals(bits(ref[1]), bits(mine[1]));
        // doubles, overlapping (3x3, stride 2), average pooling and NHWC go to the layer's own path (here none: DL4J's ops)
        var mgr = LayerWorkspaceMgr.noWorkspaces();
        var max = org.deeplearning4j.nn.conf.layers.PoolingType.MAX;
        var truncate = org.deeplearning4j.nn.conf.ConvolutionMode.Truncate;
        var nchw = org.deeplearning4j.nn.conf.CNN2DFormat.NCHW;
        int[] two = {2, 2}, zero = {0, 0}, one = {1, 1};
        JavaMaxPool alone = new JavaMaxPool(null);
        assertNull(alone.backpropGradient(Nd4j.rand(DataType.DOUBLE, 2, 6, 12, 12), Nd4j.rand(DataType.DOUBLE, 2, 6, 6, 6), two, two, zero,
                max, truncate, one, nchw, mgr));
        assertNull(alone.backpropGradient(x, Nd4j.rand(DataType.FLOAT, 2, 6, 5, 5), new int[]{3, 3}, two, zero, max, truncate, one, nchw, mgr));
        assertNull(alone.backpropGradient(x, eps, two, two, zero, org.deeplearning4j.nn.conf.layers.PoolingType.AVG, truncate, one, nchw, mgr));
        assertNull(alone.backpropGradient(x, eps, two, two, zero, max, truncate, one, org.deeplearning4j.nn.conf.CNN2DFormat.NHWC, mgr));
        assertNull(alone.backpropGradient(x, eps, two, two, one, max, truncate, one, nchw, mgr), "padded");
        assertEquals(0, alone.passes());
        x.putScalar(new long[]{1, 3, 4, 5}, 1f); // finite again: computed here
        assertNotNull(alone.backpropGradient(x, eps, two, two, zero, max, truncate, one, nchw, mgr));
        assertEquals(1, alone.passes());
        assertEquals(2, JavaMaxPool.install(n));
        assertEquals(2, JavaMaxPool.install(n), "idempotent");
        assertSame(oneDnn, ((JavaMaxPool) JavaMaxPool.helper(n.getLayer(1))).own());
    }

    private static int[] bits(INDArray a) {
        float[] f = a.dup('c').data().asFloat();
        int[] b = new int[f.length];
        for (int i = 0; i < f.length; i++) b[i] = Float.floatToRawIntBits(f[i]);
        return b;
    }
}
