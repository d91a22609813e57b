package io.squeeze.model;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A convolution's forward pass computed once a step trains LeNet-5 to the same weights, bit for bit, as computing it
 * twice — with a new minibatch every step, the same minibatch object twice in a row, inference in between, and
 * dropout — and it answered the back-propagation's repeat of every step from its copy.
 */
class ConvForwardOnceTest {
    private static MultiLayerNetwork[] pair(double dropout) {
        MultiLayerConfiguration conf = Architectures.build(new Arch.LeNet5(), 144, 10, new int[]{12, 12, 1},
                new Architectures.Hyper(7, 1e-2, 0, dropout > 0 ? 0.2 : 0, dropout, null), null);
        MultiLayerNetwork once = new MultiLayerNetwork(conf.clone()), twice = new MultiLayerNetwork(conf.clone());
        once.init();
        twice.init();
        twice.params().assign(once.params());
        TrainingKernels.install(once);
        JavaAdam.install(twice);
        InputConvGradients.install(twice);
        StepRelu.install(twice);
        assertInstanceOf(ConvForwardOnce.class, ((InputConvGradients) ConvForwardOnce.helper(once.getLayer(0))).own());
        assertInstanceOf(ConvForwardOnce.class, ConvForwardOnce.helper(once.getLayer(2)));
        assertFalse(((InputConvGradients) ConvForwardOnce.helper(twice.getLayer(0))).own() instanceof ConvForwardOnce);
        return new MultiLayerNetwork[]{once, twice};
    }

    /** 16 random 12×12 images with labels, the same for the same seed. */
    static DataSet batch(int seed) {
        Nd4j.getRandom().setSeed(seed);
        INDArray x = Nd4j.rand(DataType.FLOAT, 16, 144), y = Nd4j.zeros(DataType.FLOAT, 16, 10);
        for (int i = 0; i < 16; i++) y.putScalar(i, (i * 3 + seed) % 10, 1);
        return new DataSet(x, y);
    }

    private static long repeats(MultiLayerNetwork n, int layer) {
        var h = ConvForwardOnce.helper(n.getLayer(layer));
        return (h instanceof InputConvGradients i ? (ConvForwardOnce) i.own() : (ConvForwardOnce) h).repeats();
    }

    @Test
    void trainsToTheSameWeightsAsTwoForwardPasses() {
        MultiLayerNetwork[] p = pair(0);
        DataSet same = batch(100);
        int steps = 0;
        for (int s = 0; s < 6; s++) {
            DataSet d = s == 2 || s == 3 ? same : batch(s); // steps 2 and 3: one minibatch object, weights updated in between
            for (MultiLayerNetwork n : p) n.fit(d);
            steps++;
            if (s == 4) { // inference between steps: a forward pass of its own, with the same weights
                assertEquals(p[1].output(d.getFeatures()), p[0].output(d.getFeatures()));
            }
        }
        assertArrayEquals(p[1].params().toFloatVector(), p[0].params().toFloatVector(), 0f);
        assertTrue(repeats(p[0], 0) >= steps - 1 && repeats(p[0], 2) >= steps - 1,
                "the back-propagation's forward pass came from the copy: " + repeats(p[0], 0) + ", " + repeats(p[0], 2));
    }

    @Test
    void everyStepsRepeatIsAnsweredFromTheCopy() {
        MultiLayerNetwork[] p = pair(0);
        for (int s = 0; s < 5; s++) p[0].fit(batch(s));
        assertEquals(5, repeats(p[0], 0));
        assertEquals(5, repeats(p[0], 2));
    }

    @Test
    void dropoutTrainsToTheSameWeights() {
        MultiLayerNetwork[] p = pair(0.3);
        for (int s = 0; s < 5; s++) {
            DataSet d = batch(s);
            for (MultiLayerNetwork n : p) {
                Nd4j.getRandom().setSeed(1000 + s); // the same dropout masks for both networks
                n.fit(d);
            }
        }
        assertArrayEquals(p[1].params().toFloatVector(), p[0].params().toFloatVector(), 0f);
        assertEquals(5, repeats(p[0], 2));
        assertEquals(5, repeats(p[0], 0), "the first convolution sees the input after its dropout, the same in both passes");
    }

    @Test
    void readBitsAndTheirComparisonsSeeTheElementsInCOrderOfViewsFlatArraysAndStridedOnes() {
        Nd4j.getRandom().setSeed(3);
        INDArray flat = Nd4j.rand(DataType.FLOAT, 1, 1000);
        INDArray[] arrays = {
                Nd4j.rand(DataType.FLOAT, 16, 1, 12, 12), // a dimension of 1: not "default strides" to ND4J, still one run
                flat.get(org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.interval(172, 772)).reshape('c', 4, 6, 5, 5), // a view at an offset
                Nd4j.rand(DataType.FLOAT, 'f', 1, 16), // an 'f' vector
                Nd4j.rand(DataType.FLOAT, 'f', 7, 5), // 'f' order with two long dimensions: copied first
                Nd4j.rand(DataType.FLOAT, 6, 9).transpose(), // strided
                Nd4j.rand(DataType.FLOAT, 8, 10).get(org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.interval(2, 7))};
        for (INDArray a : arrays) {
            float[] expected = a.dup('c').data().asFloat();
            assertArrayEquals(expected, ConvForwardOnce.read(a, null), a.shapeInfoToString());
            assertArrayEquals(expected, ConvForwardOnce.read(a, new float[expected.length]), "into a given array");
            assertTrue(ConvForwardOnce.sameValues(a, expected.clone()), a.shapeInfoToString());
            float[] other = expected.clone();
            other[other.length - 1] = Math.nextUp(other[other.length - 1]);
            assertFalse(ConvForwardOnce.sameValues(a, other), "the last element differs: " + a.shapeInfoToString());
            assertFalse(ConvForwardOnce.sameValues(a, java.util.Arrays.copyOf(expected, expected.length - 1)), "a shorter copy");
            int[] bits = new int[expected.length];
            for (int i = 0; i < bits.length; i++) bits[i] = Float.floatToRawIntBits(expected[i]);
            assertArrayEquals(bits, ConvForwardOnce.bits(a, null), a.shapeInfoToString());
            int[] given = new int[bits.length];
            assertSame(given, ConvForwardOnce.bits(a, given), "into a given array");
            assertArrayEquals(bits, given);
            assertTrue(ConvForwardOnce.sameBits(a, bits.clone()), a.shapeInfoToString());
            int[] otherBits = bits.clone();
            otherBits[0] ^= 1;
            assertFalse(ConvForwardOnce.sameBits(a, otherBits), "the first element differs: " + a.shapeInfoToString());
            assertFalse(ConvForwardOnce.sameBits(a, java.util.Arrays.copyOf(bits, bits.length - 1)), "a shorter copy");
            assertFalse(ConvForwardOnce.sameBits(a, null), "no copy");
        }
        INDArray zeros = Nd4j.zeros(DataType.FLOAT, 2, 3);
        float[] negativeZeros = new float[6];
        java.util.Arrays.fill(negativeZeros, -0f);
        assertTrue(ConvForwardOnce.sameValues(zeros, negativeZeros), "+0 and -0 are equal values");
        assertTrue(ConvForwardOnce.sameValues(zeros.transpose(), new float[6]), "strided, copied first");
        negativeZeros[4] = Float.NaN;
        assertFalse(ConvForwardOnce.sameValues(zeros, negativeZeros), "NaN against a number");
        assertFalse(ConvForwardOnce.sameValues(zeros.transpose(), negativeZeros), "NaN against a number, strided");
        int[] zeroBits = new int[6], negativeZeroBits = new int[6];
        java.util.Arrays.fill(negativeZeroBits, Integer.MIN_VALUE);
        assertTrue(ConvForwardOnce.sameBits(zeros, zeroBits));
        assertTrue(ConvForwardOnce.sameBits(zeros.transpose(), zeroBits), "strided, copied first");
        assertFalse(ConvForwardOnce.sameBits(zeros, negativeZeroBits), "bit for bit: -0 is not +0");
        INDArray nans = Nd4j.zeros(DataType.FLOAT, 2, 3);
        nans.putScalar(1, 1, Float.intBitsToFloat(0x7fc00001));
        int[] nanBits = new int[6];
        nanBits[4] = 0x7fc00001;
        assertTrue(ConvForwardOnce.sameBits(nans, nanBits), "the same NaN");
        nanBits[4] = 0x7fc00000;
        assertFalse(ConvForwardOnce.sameBits(nans, nanBits), "a NaN of other bits");
        assertEquals(600, ConvForwardOnce.read(arrays[1], null).length);
        assertEquals(flat.getFloat(0, 172), ConvForwardOnce.read(arrays[1], null)[0]);
    }
}
