package io.squeeze.model;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.impl.ActivationReLU;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import static org.junit.jupiter.api.Assertions.*;

/**
 * ReLU's backward pass as {@code ε · step(z)} gives DL4J's floats bit for bit, trains LeNet-5 to the same weights, and
 * leaves a network's saved configuration DL4J's own once restored.
 */
class StepReluTest {
    @Test
    void backpropIsDl4jsBitForBit() {
        Nd4j.getRandom().setSeed(5);
        INDArray z = Nd4j.randn(DataType.FLOAT, 16, 6, 9, 9), eps = Nd4j.randn(DataType.FLOAT, 16, 6, 9, 9);
        // zeros of both signs, infinities, NaNs of both signs, the smallest subnormals and the largest floats as z;
        // non-finite gradients where z ≤ 0 and where z > 0
        float[] special = {0f, -0f, -1f, 2f, Float.NaN, Float.intBitsToFloat(0xffc00000), Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY,
                Float.MIN_VALUE, -Float.MIN_VALUE, Float.MAX_VALUE, -Float.MAX_VALUE, Float.intBitsToFloat(0x7f800001)};
        for (int i = 0; i < special.length; i++) z.putScalar(i, special[i]);
        eps.putScalar(2, Float.NaN).putScalar(3, Float.POSITIVE_INFINITY).putScalar(5, Float.NEGATIVE_INFINITY).putScalar(0, -0f).putScalar(8, -0f);
        INDArray zBefore = z.dup(), epsBefore = eps.dup();
        StepRelu relu = new StepRelu();
        INDArray ours = relu.backprop(z, eps).getFirst(), dl4j = new ActivationReLU().backprop(z.dup(), eps.dup()).getFirst();
        assertEquals(1, relu.passes(), "the loop ran, not DL4J's op");
        assertArrayEquals(bits(zBefore), bits(z), "z is left as it was");
        assertArrayEquals(bits(epsBefore), bits(eps), "ε is left as it was");
        int[] a = bits(ours);
        assertArrayEquals(bits(dl4j), a);
        for (int i = 0; i < special.length; i++)
            assertEquals(special[i] > 0 ? Float.floatToRawIntBits(eps.getFloat(i)) : 0, a[i], "z = " + special[i]);
        long zeros = java.util.Arrays.stream(a).filter(i -> i == 0).count();
        assertTrue(zeros > 3_500 && zeros < 4_300, "about half the entries are z ≤ 0: " + zeros);
        // a strided view of z goes to DL4J's op: the same values
        INDArray zt = z.permute(0, 1, 3, 2), et = eps.permute(0, 1, 3, 2).dup('c');
        assertArrayEquals(bits(new ActivationReLU().backprop(zt.dup('c'), et.dup()).getFirst()), bits(relu.backprop(zt, et).getFirst()));
        assertEquals(1, relu.passes());
    }

    @Test
    void theMaskIsZGreaterThanZeroForEveryBitPattern() {
        var r = new java.util.Random(3);
        int[] z = new int[1 << 16], e = new int[z.length];
        for (int round = 0; round < 64; round++) {
            for (int i = 0; i < z.length; i++) {
                z[i] = round == 0 && i < 2 ? (i == 0 ? 0x7f800000 : 0x7f800001) : r.nextInt();
                e[i] = r.nextInt();
            }
            int[] want = new int[z.length];
            for (int i = 0; i < z.length; i++) want[i] = Float.intBitsToFloat(z[i]) > 0 ? e[i] : 0;
            StepRelu.mask(z, e, z.length);
            assertArrayEquals(want, e);
        }
    }

    @Test
    void theForwardPassIsDl4jsBitForBitInPlace() {
        Nd4j.getRandom().setSeed(6);
        INDArray z = Nd4j.randn(DataType.FLOAT, 16, 6, 9, 9);
        float[] special = {0f, -0f, -1f, 2f, Float.NaN, Float.intBitsToFloat(0xffc00000), Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY,
                Float.MIN_VALUE, -Float.MIN_VALUE, Float.MAX_VALUE, -Float.MAX_VALUE, Float.intBitsToFloat(0x7f800001), Float.intBitsToFloat(0xff800001)};
        for (int i = 0; i < special.length; i++) z.putScalar(i, special[i]);
        int[] in = bits(z); // as stored (putScalar may quiet a signalling NaN)
        INDArray dl4j = new ActivationReLU().getActivation(z.dup(), true);
        INDArray ours = new StepRelu().getActivation(z, true);
        assertSame(z, ours, "in place, as DL4J's");
        int[] a = bits(ours);
        assertArrayEquals(bits(dl4j), a);
        int[] want = {0, 0x80000000, 0, Float.floatToRawIntBits(2f), in[4], in[5], 0x7f800000, 0, 1, 0, Float.floatToRawIntBits(Float.MAX_VALUE), 0, in[12], in[13]};
        assertArrayEquals(want, java.util.Arrays.copyOf(a, want.length), "−0 and NaNs pass through, negatives (−∞ too) become +0");
        for (int i : new int[]{4, 5, 12, 13}) assertTrue(Float.isNaN(Float.intBitsToFloat(in[i])), "a NaN at " + i);
        // a strided view goes to DL4J's op, in place too
        INDArray zt = Nd4j.randn(DataType.FLOAT, 4, 5).transpose(), before = zt.dup();
        new StepRelu().getActivation(zt, true);
        assertArrayEquals(bits(new ActivationReLU().getActivation(before, true)), bits(zt));
    }

    @Test
    void theForwardKernelIsReluForEveryBitPattern() {
        var r = new java.util.Random(4);
        int[] z = new int[1 << 16];
        for (int round = 0; round < 64; round++) {
            for (int i = 0; i < z.length; i++) z[i] = round == 0 && i < 6 ? new int[]{0, 0x80000000, 0xff800000, 0xff800001, 0x807fffff, 0x7f800000}[i] : r.nextInt();
            int[] want = new int[z.length];
            for (int i = 0; i < z.length; i++) want[i] = Float.intBitsToFloat(z[i]) < 0 ? 0 : z[i];
            StepRelu.relu(z, z.length);
            assertArrayEquals(want, z);
        }
    }

    /** {@code a}'s floats as their raw bits, in 'c' order: equal arrays are equal bit for bit, −0 and +0 apart. */
    static int[] bits(INDArray a) {
        float[] f = a.dup('c').reshape(a.length()).toFloatVector();
        int[] out = new int[f.length];
        for (int i = 0; i < f.length; i++) out[i] = Float.floatToRawIntBits(f[i]);
        return out;
    }

    @Test
    void lenet5TrainsToTheSameWeightsAndSavesDl4jsConfiguration() {
        MultiLayerConfiguration conf = Architectures.build(new Arch.LeNet5(), 144, 10, new int[]{12, 12, 1},
                new Architectures.Hyper(7, 1e-2, 0), null);
        MultiLayerNetwork ours = new MultiLayerNetwork(conf.clone()), dl4j = new MultiLayerNetwork(conf.clone());
        ours.init();
        dl4j.init();
        dl4j.params().assign(ours.params());
        TrainingKernels.install(ours);
        JavaAdam.install(dl4j);
        InputConvGradients.install(dl4j);
        assertEquals(4, StepRelu.install(ours), "two convolutions and two hidden dense layers");
        assertInstanceOf(StepRelu.class, ((org.deeplearning4j.nn.conf.layers.BaseLayer) ours.getLayer(0).conf().getLayer()).getActivationFn());
        Nd4j.getRandom().setSeed(11);
        INDArray x = Nd4j.rand(DataType.FLOAT, 32, 144), y = Nd4j.zeros(DataType.FLOAT, 32, 10);
        for (int i = 0; i < 32; i++) y.putScalar(i, (i * 3) % 10, 1);
        for (int step = 0; step < 8; step++) {
            ours.fit(new DataSet(x, y));
            dl4j.fit(new DataSet(x, y));
        }
        assertArrayEquals(dl4j.params().toFloatVector(), ours.params().toFloatVector(), 0f);
        for (int layer : new int[]{0, 2, 4, 5})
            assertEquals(8, ((StepRelu) ((org.deeplearning4j.nn.conf.layers.BaseLayer) ours.getLayer(layer).conf().getLayer()).getActivationFn()).passes(),
                    "layer " + layer + " ran the loop every step");
        assertTrue(ours.getLayerWiseConfigurations().toJson().contains("StepRelu"), "installed, the configuration names StepRelu");
        TrainingKernels.restore(ours);
        assertEquals(dl4j.getLayerWiseConfigurations().toJson(), ours.getLayerWiseConfigurations().toJson(), "restored: DL4J's configuration");
        assertFalse(ours.getLayerWiseConfigurations().toJson().contains("StepRelu"));
    }

    @Test
    void onlyPlainRelusAreReplaced() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(1).updater(new Adam(1e-3)).list()
                .layer(new DenseLayer.Builder().nIn(4).nOut(5).activation(new ActivationReLU(6.0, 0.0, 0.0)).build()) // ReLU6
                .layer(new DenseLayer.Builder().nIn(5).nOut(5).activation(Activation.TANH).build())
                .layer(new ActivationLayer.Builder().activation(Activation.RELU).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(5).nOut(3).activation(Activation.SOFTMAX).build())
                .build();
        MultiLayerNetwork n = new MultiLayerNetwork(conf);
        n.init();
        assertEquals(1, StepRelu.install(n), "the ReLU layer; not ReLU6, tanh or softmax");
        assertInstanceOf(StepRelu.class, ((ActivationLayer) n.getLayer(2).conf().getLayer()).getActivationFn());
        assertEquals(ActivationReLU.class, ((DenseLayer) n.getLayer(0).conf().getLayer()).getActivationFn().getClass());
        assertEquals(1, StepRelu.install(n), "idempotent");
        StepRelu.restore(n);
        assertEquals(ActivationReLU.class, ((ActivationLayer) n.getLayer(2).conf().getLayer()).getActivationFn().getClass());
    }
}
