package io.squeeze.model;

import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.layers.mkldnn.MKLDNNConvHelper;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The input layer's convolution trained without its input gradient gives the weights of oneDNN's and of DL4J's
 * im2col path to float rounding: LeNet-5 ("same" padding, 1 channel), LeNet-5-Caffe (truncate), a strided,
 * padded 3-channel convolution without bias and a dilated 2-channel one strided along its columns, and minibatches
 * whose size changes from step to step; and it computed every one of those steps itself.
 */
class InputConvGradientsTest {
    /** A network of {@code conf} with DL4J's helpers (oneDNN) on or off. */
    static MultiLayerNetwork net(MultiLayerConfiguration conf, boolean helpers) {
        String before = System.getProperty(Dl4jHelpers.PROPERTY);
        System.setProperty(Dl4jHelpers.PROPERTY, Boolean.toString(!helpers));
        try {
            MultiLayerNetwork n = new MultiLayerNetwork(conf.clone());
            n.init();
            return n;
        } finally {
            if (before == null) System.clearProperty(Dl4jHelpers.PROPERTY);
            else System.setProperty(Dl4jHelpers.PROPERTY, before);
        }
    }

    private static void sameWeights(MultiLayerConfiguration conf, int features, int rows, boolean direct) {
        sameWeights(conf, features, rows, true, direct);
    }

    /**
     * {@code onednnForward}: the networks keep oneDNN for their forward pass, else DL4J's own path (no helper under
     * ours); {@code direct}: every step went through {@link StrideOneWeightGradients}, else through im2col and a GEMM.
     */
    private static void sameWeights(MultiLayerConfiguration conf, int features, int rows, boolean onednnForward, boolean direct) {
        MultiLayerNetwork fast = net(conf, onednnForward), onednn = net(conf, onednnForward), im2col = net(conf, false);
        assertTrue(InputConvGradients.install(fast));
        assertInstanceOf(InputConvGradients.class, fast.getLayer(0).getHelper());
        if (onednnForward) assertInstanceOf(MKLDNNConvHelper.class, onednn.getLayer(0).getHelper());
        Nd4j.getRandom().setSeed(11);
        INDArray x = Nd4j.rand(DataType.FLOAT, rows, features), y = Nd4j.zeros(DataType.FLOAT, rows, 10);
        for (int i = 0; i < rows; i++) y.putScalar(i, (i * 3) % 10, 1);
        for (int step = 0; step < 6; step++) {
            fast.fit(new DataSet(x, y));
            onednn.fit(new DataSet(x, y));
            im2col.fit(new DataSet(x, y));
        }
        // DL4J falls back to its own path, silently, when a helper throws: every step was this helper's
        assertEquals(6, ((InputConvGradients) fast.getLayer(0).getHelper()).passes());
        assertEquals(direct ? 6 : 0, ((InputConvGradients) fast.getLayer(0).getHelper()).directPasses());
        double moved = fast.params().sub(net(conf, false).params()).amax().getDouble(0);
        assertTrue(moved > 1e-3, "the weights trained: " + moved);
        for (MultiLayerNetwork other : new MultiLayerNetwork[]{onednn, im2col}) {
            double diff = fast.params().sub(other.params()).amax().getDouble(0);
            assertTrue(diff < 2e-5, "weights after 6 Adam steps differ by " + diff);
            assertEquals(other.score(), fast.score(), 1e-5);
        }
        // a stride-1 layer's forward pass is StrideOneConvForward's, which rounds differently from oneDNN's
        assertTrue(onednn.output(x).sub(fast.output(x)).amax().getDouble(0) < 1e-5, "the same outputs to float rounding");
    }

    @Test
    void lenet5AndLenet5CaffeTrainToTheSameWeights() {
        Dl4jHelpers.enable();
        var h = new Architectures.Hyper(7, 1e-3, 0);
        sameWeights(Architectures.build(new Arch.LeNet5(), 784, 10, new int[]{28, 28, 1}, h, null), 784, 24, true);
        sameWeights(Architectures.build(new Arch.LeNet5Caffe(), 784, 10, new int[]{28, 28, 1}, h, null), 784, 16, true);
    }

    @Test
    void stridedDilatedAndPaddedConvolutionsWithAndWithoutBiasTrainToTheSameWeights() {
        Dl4jHelpers.enable();
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(5).dataType(DataType.FLOAT).updater(new Adam(1e-2)).list()
                .layer(new ConvolutionLayer.Builder(3, 3).stride(2, 1).padding(1, 2).hasBias(false).nOut(4)
                        .convolutionMode(ConvolutionMode.Truncate).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(10).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.convolutionalFlat(11, 9, 3)).build();
        sameWeights(conf, 11 * 9 * 3, 8, false);
        MultiLayerConfiguration dilated = new NeuralNetConfiguration.Builder().seed(5).dataType(DataType.FLOAT).updater(new Adam(1e-2)).list()
                .layer(new ConvolutionLayer.Builder(3, 2).stride(1, 3).dilation(2, 1).padding(0, 1).nOut(5)
                        .convolutionMode(ConvolutionMode.Truncate).activation(Activation.RELU).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(10).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.convolutionalFlat(10, 13, 2)).build();
        sameWeights(dilated, 10 * 13 * 2, 5, false, false); // oneDNN 1.0.0-M2's forward pass fails on this dilation
    }

    @Test
    void strideOneConvolutionsWithPaddingDilationAndSeveralChannelsTrainToTheSameWeights() {
        Dl4jHelpers.enable();
        for (boolean bias : new boolean[]{true, false}) {
            MultiLayerConfiguration padded = new NeuralNetConfiguration.Builder().seed(5).dataType(DataType.FLOAT).updater(new Adam(1e-2)).list()
                    .layer(new ConvolutionLayer.Builder(3, 4).padding(2, 1).hasBias(bias).nOut(4)
                            .convolutionMode(ConvolutionMode.Truncate).activation(Activation.TANH).build())
                    .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(10).activation(Activation.SOFTMAX).build())
                    .setInputType(InputType.convolutionalFlat(9, 11, 3)).build();
            sameWeights(padded, 9 * 11 * 3, 7, true);
            MultiLayerConfiguration dilated = new NeuralNetConfiguration.Builder().seed(5).dataType(DataType.FLOAT).updater(new Adam(1e-2)).list()
                    .layer(new ConvolutionLayer.Builder(3, 2).dilation(2, 3).padding(1, 2).hasBias(bias).nOut(5)
                            .convolutionMode(ConvolutionMode.Truncate).activation(Activation.RELU).build())
                    .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(10).activation(Activation.SOFTMAX).build())
                    .setInputType(InputType.convolutionalFlat(10, 13, 2)).build();
            sameWeights(dilated, 10 * 13 * 2, 5, false, true);
        }
    }

    @Test
    void minibatchesOfChangingSizesTrainToTheSameWeights() {
        Dl4jHelpers.enable();
        var conf = Architectures.build(new Arch.LeNet5(), 784, 10, new int[]{28, 28, 1}, new Architectures.Hyper(7, 1e-3, 0), null);
        MultiLayerNetwork fast = net(conf, true), onednn = net(conf, true);
        assertTrue(InputConvGradients.install(fast));
        Nd4j.getRandom().setSeed(12);
        int[] sizes = {24, 16, 24, 7, 7, 24}; // the im2col matrix's zeros, ones and shape follow each geometry
        for (int rows : sizes) {
            INDArray x = Nd4j.rand(DataType.FLOAT, rows, 784), y = Nd4j.zeros(DataType.FLOAT, rows, 10);
            for (int i = 0; i < rows; i++) y.putScalar(i, (i * 7) % 10, 1);
            fast.fit(new DataSet(x, y));
            onednn.fit(new DataSet(x, y));
            assertEquals(onednn.score(), fast.score(), 1e-5, rows + " rows");
        }
        assertEquals(sizes.length, ((InputConvGradients) fast.getLayer(0).getHelper()).passes());
        double diff = fast.params().sub(onednn.params()).amax().getDouble(0);
        assertTrue(diff < 2e-5, "weights differ by " + diff);
        assertTrue(fast.params().sub(net(conf, true).params()).amax().getDouble(0) > 1e-3, "the weights trained");
    }

    @Test
    void onlyAPlainConvolutionFirstIsTouched() {
        var h = new Architectures.Hyper(7, 1e-3, 0);
        MultiLayerNetwork mlp = new MultiLayerNetwork(Architectures.build(new Arch.Mlp(new int[]{8}), 16, 3, null, h, null));
        mlp.init();
        assertFalse(InputConvGradients.install(mlp));
        MultiLayerNetwork lenet = net(Architectures.build(new Arch.LeNet5(), 784, 10, new int[]{28, 28, 1}, h, null), true);
        assertTrue(InputConvGradients.install(lenet));
        assertTrue(InputConvGradients.install(lenet), "installed once");
        assertInstanceOf(MKLDNNConvHelper.class, lenet.getLayer(2).getHelper(), "the second convolution keeps oneDNN");
    }
}
