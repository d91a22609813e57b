package io.squeeze.model;

import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.layers.convolution.ConvolutionHelper;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The first convolution's Java forward pass gives oneDNN's and DL4J's pre-activations to float rounding ("same" and
 * truncated padding, dilation, several channels, with and without bias) and computes them itself; other strides and
 * asymmetric "same" padding go to the layer's own helper unchanged.
 */
class StrideOneConvForwardTest {
    private static MultiLayerNetwork net(MultiLayerConfiguration conf, boolean helpers) {
        return InputConvGradientsTest.net(conf, helpers);
    }

    /** The Java forward pass under the first layer's helpers after {@link TrainingKernels#install}. */
    private static StrideOneConvForward forward(MultiLayerNetwork net) {
        ConvolutionHelper h = ((InputConvGradients) net.getLayer(0).getHelper()).own();
        if (h instanceof ConvForwardOnce once) h = once.own();
        return (StrideOneConvForward) h;
    }

    private static MultiLayerConfiguration conv(ConvolutionLayer.Builder layer, int h, int w, int c) {
        return new NeuralNetConfiguration.Builder().seed(5).dataType(DataType.FLOAT).updater(new Adam(1e-2)).list()
                .layer(layer.activation(Activation.IDENTITY).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(10).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.convolutionalFlat(h, w, c)).build();
    }

    /**
     * The first layer's output (identity activation: its pre-activation) with the kernels installed, against a
     * network without them ({@code onednn}: with oneDNN, else DL4J's own path); returns the largest difference.
     */
    private static double firstLayerDifference(MultiLayerConfiguration conf, int features, boolean onednn, long passes) {
        MultiLayerNetwork ours = net(conf, onednn), reference = net(conf, onednn);
        Nd4j.getRandom().setSeed(4);
        ours.params().assign(Nd4j.rand(DataType.FLOAT, ours.params().shape()).subi(0.5)); // biases too, which start at 0
        reference.params().assign(ours.params());
        TrainingKernels.install(ours);
        Nd4j.getRandom().setSeed(3);
        INDArray x = Nd4j.rand(DataType.FLOAT, 6, features).subi(0.3);
        INDArray got = ours.feedForward(x, false).get(1), want = reference.feedForward(x, false).get(1);
        assertArrayEquals(want.shape(), got.shape());
        assertEquals(passes, forward(ours).passes());
        double scale = want.amax().getDouble(0);
        assertTrue(scale > 0.1, "a non-trivial output: " + scale);
        return got.sub(want).amax().getDouble(0) / scale;
    }

    @Test
    void lenet5sFirstLayerGivesOnednnsAndDl4jsPreActivations() {
        Dl4jHelpers.enable();
        var conf = Architectures.build(new Arch.LeNet5(), 784, 10, new int[]{28, 28, 1}, new Architectures.Hyper(7, 1e-3, 0), null);
        for (boolean onednn : new boolean[]{true, false})
            assertTrue(firstLayerDifference(conf, 784, onednn, 1) < 1e-6, "oneDNN " + onednn);
    }

    @Test
    void paddingDilationChannelsAndBias() {
        Dl4jHelpers.enable();
        for (boolean bias : new boolean[]{true, false}) {
            var truncated = conv(new ConvolutionLayer.Builder(3, 4).padding(2, 1).hasBias(bias).nOut(4).convolutionMode(ConvolutionMode.Truncate), 9, 11, 3);
            assertTrue(firstLayerDifference(truncated, 9 * 11 * 3, true, 1) < 1e-6, "truncated, bias " + bias);
            var same = conv(new ConvolutionLayer.Builder(3, 5).hasBias(bias).nOut(3).convolutionMode(ConvolutionMode.Same), 8, 7, 2);
            assertTrue(firstLayerDifference(same, 8 * 7 * 2, true, 1) < 1e-6, "same, bias " + bias);
            // oneDNN 1.0.0-M2's forward pass fails on dilation: against DL4J's own path
            var dilated = conv(new ConvolutionLayer.Builder(3, 2).dilation(2, 3).padding(1, 2).hasBias(bias).nOut(5).convolutionMode(ConvolutionMode.Truncate), 10, 13, 2);
            assertTrue(firstLayerDifference(dilated, 10 * 13 * 2, false, 1) < 1e-6, "dilated, bias " + bias);
        }
    }

    @Test
    void otherStridesAndAsymmetricPaddingGoToTheLayersOwnHelper() {
        Dl4jHelpers.enable();
        var strided = conv(new ConvolutionLayer.Builder(3, 3).stride(2, 1).padding(1, 1).nOut(4).convolutionMode(ConvolutionMode.Truncate), 11, 9, 3);
        assertEquals(0, firstLayerDifference(strided, 11 * 9 * 3, true, 0));
        var evenSame = conv(new ConvolutionLayer.Builder(4, 4).nOut(4).convolutionMode(ConvolutionMode.Same), 8, 8, 1);
        assertEquals(0, firstLayerDifference(evenSame, 64, true, 0));
    }
}
