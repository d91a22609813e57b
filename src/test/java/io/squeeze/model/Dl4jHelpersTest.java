package io.squeeze.model;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.layers.mkldnn.MKLDNNConvHelper;
import org.deeplearning4j.nn.layers.mkldnn.MKLDNNSubsamplingHelper;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.*;

/**
 * DL4J's oneDNN helpers are on for Squeeze's networks (the shipped libnd4j is the oneDNN build, the M2 class-name
 * check is answered by the shim), and a LeNet-5 computes with them what DL4J's own im2col path computes: the same
 * outputs, and after five training steps the same weights, to float rounding.
 */
class Dl4jHelpersTest {
    static MultiLayerNetwork lenet5(boolean helpers) {
        String before = System.getProperty(Dl4jHelpers.PROPERTY);
        System.setProperty(Dl4jHelpers.PROPERTY, Boolean.toString(!helpers));
        try {
            MultiLayerConfiguration conf = Architectures.build(new Arch.LeNet5(), 784, 10, new int[]{28, 28, 1}, new Architectures.Hyper(7, 1e-3, 0), null);
            MultiLayerNetwork net = new MultiLayerNetwork(conf);
            net.init();
            return net;
        } finally {
            if (before == null) System.clearProperty(Dl4jHelpers.PROPERTY);
            else System.setProperty(Dl4jHelpers.PROPERTY, before);
        }
    }

    @Test
    void convolutionAndPoolingRunThroughOneDnnAndAgreeWithIm2col() {
        Dl4jHelpers.enable();
        assertTrue(Dl4jHelpers.active(), "the oneDNN build of libnd4j and the helpers property");
        MultiLayerNetwork with = lenet5(true), without = lenet5(false);
        assertInstanceOf(MKLDNNConvHelper.class, with.getLayer(0).getHelper());
        assertInstanceOf(MKLDNNSubsamplingHelper.class, with.getLayer(1).getHelper());
        assertNull(without.getLayer(0).getHelper());
        assertEquals(without.params(), with.params(), "the same seeded initial weights");

        Nd4j.getRandom().setSeed(3);
        INDArray x = Nd4j.rand(DataType.FLOAT, 32, 784), y = Nd4j.zeros(DataType.FLOAT, 32, 10);
        for (int i = 0; i < 32; i++) y.putScalar(i, (i * 7) % 10, 1);
        INDArray a = with.output(x), b = without.output(x);
        assertTrue(a.equalsWithEps(b, 1e-5), "outputs: max difference " + a.sub(b).amax().getDouble(0));
        for (int step = 0; step < 5; step++) {
            with.fit(new DataSet(x, y));
            without.fit(new DataSet(x, y));
        }
        double diff = with.params().sub(without.params()).amax().getDouble(0);
        assertTrue(diff < 1e-4, "weights after 5 Adam steps differ by " + diff);
        assertEquals(without.score(), with.score(), 1e-4);
    }
}
