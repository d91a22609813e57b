package io.squeeze.model;

import io.squeeze.core.BadInputException;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * He et al. 2016 ("Deep Residual Learning for Image Recognition", section 4.2)'s residual network for small images,
 * as a DL4J {@code ComputationGraph}: a 3×3 convolution of 16 channels, then three stages of {@code blocks} residual
 * blocks with 16, 32 and 64 channels (6·blocks + 2 weighted layers: {@code resnet:3} is their ResNet-20), global
 * average pooling and a softmax output. A block is conv 3×3 → BN → ReLU → conv 3×3 → BN, added to its shortcut, then
 * ReLU; the first block of stages 2 and 3 halves the resolution (stride 2) and its shortcut is a 1×1 convolution of
 * stride 2 with BN (their option B), every other shortcut the identity. Convolutions have no bias (BN follows each)
 * and "same" padding, so 28×28 MNIST digits go 28 → 14 → 7. Vertices are named {@code s<stage>b<block>_…}.
 */
public final class ResNetGraph {
    private ResNetGraph() {}

    static final int[] WIDTHS = {16, 32, 64};

    public static ComputationGraphConfiguration build(Arch.ResNet a, int numFeatures, int numClasses, int[] shape, Architectures.Hyper h) {
        if (shape == null) {
            int side = (int) Math.round(Math.sqrt(numFeatures));
            if (side * side != numFeatures)
                throw new BadInputException("--arch " + a + " needs images; the data has " + numFeatures + " features and no image shape");
            shape = new int[]{side, side, 1};
        }
        NeuralNetConfiguration.Builder b = new NeuralNetConfiguration.Builder().seed(h.seed()).dataType(DataType.FLOAT)
                .weightInit(WeightInit.RELU).updater(new Adam(h.learningRate()));
        if (h.l2() > 0) b.l2(h.l2());
        ComputationGraphConfiguration.GraphBuilder g = b.graphBuilder().addInputs("input")
                .setInputTypes(InputType.convolutionalFlat(shape[0], shape[1], shape[2]));
        String at = convBn(g, "stem", "input", WIDTHS[0], 3, 1, h.inputDropout());
        g.addLayer("stem_relu", relu(), at);
        at = "stem_relu";
        for (int s = 0; s < WIDTHS.length; s++) {
            for (int k = 0; k < a.blocks(); k++) {
                String name = "s" + (s + 1) + "b" + (k + 1);
                int stride = s > 0 && k == 0 ? 2 : 1;
                String y = convBn(g, name + "_conv1", at, WIDTHS[s], 3, stride, 0);
                g.addLayer(name + "_relu1", relu(), y);
                y = convBn(g, name + "_conv2", name + "_relu1", WIDTHS[s], 3, 1, 0);
                String shortcut = stride == 1 ? at : convBn(g, name + "_proj", at, WIDTHS[s], 1, stride, 0);
                g.addVertex(name + "_add", new ElementWiseVertex(ElementWiseVertex.Op.Add), y, shortcut);
                g.addLayer(name + "_relu", relu(), name + "_add");
                at = name + "_relu";
            }
        }
        g.addLayer("pool", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), at);
        OutputLayer.Builder out = new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(numClasses)
                .weightInit(WeightInit.XAVIER).activation(Activation.SOFTMAX);
        if (h.dropout() > 0) out.dropOut(1 - h.dropout());
        g.addLayer("output", out.build(), "pool");
        return g.setOutputs("output").build();
    }

    /** {@code name}: a bias-free convolution, then {@code name_bn}; returns the BN vertex. */
    private static String convBn(ComputationGraphConfiguration.GraphBuilder g, String name, String in, int channels, int k, int stride,
                                 double dropout) {
        ConvolutionLayer.Builder c = new ConvolutionLayer.Builder(k, k).stride(stride, stride).nOut(channels).hasBias(false)
                .convolutionMode(ConvolutionMode.Same).activation(Activation.IDENTITY);
        if (dropout > 0) c.dropOut(1 - dropout);
        g.addLayer(name, c.build(), in);
        g.addLayer(name + "_bn", new BatchNormalization.Builder().build(), name);
        return name + "_bn";
    }

    private static ActivationLayer relu() {
        return new ActivationLayer.Builder().activation(Activation.RELU).build();
    }
}
