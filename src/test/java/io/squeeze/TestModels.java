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

    /**
     * A convolutional network with batch normalization in every foldable place, on 12×12×1 images: conv 3×3 (no bias,
     * identity) → BN → ReLU layer → max pool 2 → conv 3×3 (identity) → BN with ReLU → dense 16 (identity) → BN → tanh
     * layer → softmax output of 10. The running statistics, scales and shifts are random (not DL4J's identity start),
     * stored as log₁₀σ when {@code logStd}, else as σ².
     */
    public static MultiLayerNetwork bnConvNet(long seed, boolean logStd) {
        var act = org.nd4j.linalg.activations.Activation.IDENTITY;
        var conf = new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder().seed(seed).list()
                .layer(new org.deeplearning4j.nn.conf.layers.ConvolutionLayer.Builder(3, 3).nOut(6).hasBias(false).activation(act).name("conv1").build())
                .layer(new org.deeplearning4j.nn.conf.layers.BatchNormalization.Builder().useLogStd(logStd).name("bn1").build())
                .layer(new org.deeplearning4j.nn.conf.layers.ActivationLayer.Builder().activation(org.nd4j.linalg.activations.Activation.RELU).build())
                .layer(new org.deeplearning4j.nn.conf.layers.SubsamplingLayer.Builder(org.deeplearning4j.nn.conf.layers.PoolingType.MAX)
                        .kernelSize(2, 2).stride(2, 2).build())
                .layer(new org.deeplearning4j.nn.conf.layers.ConvolutionLayer.Builder(3, 3).nOut(8).activation(act).name("conv2").build())
                .layer(new org.deeplearning4j.nn.conf.layers.BatchNormalization.Builder().useLogStd(logStd)
                        .activation(org.nd4j.linalg.activations.Activation.RELU).name("bn2").build())
                .layer(new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().nOut(16).activation(act).name("dense").build())
                .layer(new org.deeplearning4j.nn.conf.layers.BatchNormalization.Builder().useLogStd(logStd).name("bn3").build())
                .layer(new org.deeplearning4j.nn.conf.layers.ActivationLayer.Builder().activation(org.nd4j.linalg.activations.Activation.TANH).build())
                .layer(new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder().nOut(10).activation(org.nd4j.linalg.activations.Activation.SOFTMAX).build())
                .setInputType(org.deeplearning4j.nn.conf.inputs.InputType.convolutionalFlat(12, 12, 1)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        java.util.Random r = new java.util.Random(seed);
        for (int i = 0; i < net.getnLayers(); i++) {
            if (!(net.getLayer(i).conf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.BatchNormalization)) continue;
            for (var e : net.getLayer(i).paramTable().entrySet()) {
                var v = e.getValue();
                for (long k = 0; k < v.length(); k++) {
                    double x = switch (e.getKey()) {
                        case "gamma" -> 0.5 + r.nextDouble();
                        case "beta", "mean" -> r.nextGaussian() * 0.3;
                        case "var" -> 0.2 + r.nextDouble();
                        default -> r.nextGaussian() * 0.2; // log10stdev
                    };
                    v.putScalar(k, x);
                }
            }
        }
        return net;
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
