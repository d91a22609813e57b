package io.squeeze;

import io.squeeze.data.Normalization;
import io.squeeze.data.Normalizer;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.model.ModelMeta;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

/** Small networks for tests. */
public final class TestModels {
    private TestModels() {}

    public static MultiLayerNetwork mlp(int nIn, int[] hidden, int classes, long seed) {
        MultiLayerNetwork net = new MultiLayerNetwork(Architectures.build(new Arch.Mlp(hidden), nIn, classes, null,
                new Architectures.Hyper(seed, 1e-3, 0), null));
        net.init();
        return net;
    }

    /**
     * A DL4J zip at {@code zip} of a network Squeeze evaluates but ONNX export refuses: 8×8×1 images, a 3×3
     * convolution, 2×2 average pooling (layer 1) and a softmax output of {@code classes}.
     */
    public static java.nio.file.Path avgPoolZip(java.nio.file.Path zip, int classes) {
        var conf = new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder().seed(1).list()
                .layer(new org.deeplearning4j.nn.conf.layers.ConvolutionLayer.Builder(3, 3).nIn(1).nOut(2).build())
                .layer(new org.deeplearning4j.nn.conf.layers.SubsamplingLayer.Builder(org.deeplearning4j.nn.conf.layers.PoolingType.AVG)
                        .kernelSize(2, 2).stride(2, 2).build())
                .layer(new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder().nOut(classes).activation(org.nd4j.linalg.activations.Activation.SOFTMAX).build())
                .setInputType(org.deeplearning4j.nn.conf.inputs.InputType.convolutionalFlat(8, 8, 1)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        io.squeeze.model.ModelIO.writeZip(new io.squeeze.core.Storage(new org.apache.hadoop.conf.Configuration()),
                new org.apache.hadoop.fs.Path(zip.toString()), net, new ModelMeta(64, classes, new int[]{8, 8, 1}, null, ""), false);
        return zip;
    }

    public static ModelMeta meta(int nIn, int classes) {
        return new ModelMeta(nIn, classes, null, Normalizer.NONE, "test");
    }

    public static ModelMeta minmaxMeta(int nIn, int classes) {
        float[] off = new float[nIn], sc = new float[nIn];
        java.util.Arrays.fill(sc, 1f / 16);
        return new ModelMeta(nIn, classes, null, new Normalizer(Normalization.MINMAX, off, sc), "test");
    }

    /** Asserts two networks hold bit-identical parameters. */
    public static void assertSameWeights(MultiLayerNetwork a, MultiLayerNetwork b) {
        float[] x = a.params().dup().data().asFloat(), y = b.params().dup().data().asFloat();
        org.junit.jupiter.api.Assertions.assertEquals(x.length, y.length);
        for (int i = 0; i < x.length; i++)
            org.junit.jupiter.api.Assertions.assertEquals(Float.floatToRawIntBits(x[i]), Float.floatToRawIntBits(y[i]), "param " + i);
    }
}
