package io.squeeze.model;

import io.squeeze.core.BadInputException;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor;
import org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnnPreProcessor;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.HashMap;
import java.util.Map;

/**
 * A Keras CNN in Keras' default {@code channels_last} layout, made the channels-first network Squeeze's runtimes take,
 * computing the same function. DL4J's importer keeps the Keras layout: its convolutions, poolings and batch
 * normalizations are NHWC, the {@code Flatten} is a {@code CnnToFeedForwardPreProcessor} NHWC, and the first
 * convolution has no flat-input preprocessor (Squeeze feeds flat rows). The conversion:
 * <ul>
 *   <li>every convolution, pooling and batch normalization becomes NCHW — DL4J keeps a convolution's kernel as
 *       {@code [out, in, kh, kw]} in either layout, so the weights stay as they are;</li>
 *   <li>each flatten becomes NCHW, and the dense layer after it has its weight rows permuted from Keras' (height,
 *       width, channel) order to (channel, height, width): row {@code (y·w + x)·c + k} moves to {@code k·h·w + y·w + x};</li>
 *   <li>the first layer gets the flat-row preprocessor of the Keras input shape ({@code batch_input_shape}).</li>
 * </ul>
 * With one input channel an image's flat row is the same in both layouts. With more, a Keras user's rows are
 * (height, width, channel) and Squeeze's (channel, height, width): such a model is refused rather than fed permuted
 * pixels.
 */
final class KerasChannelsFirst {
    private KerasChannelsFirst() {}

    /** Whether {@code c} holds an NHWC convolution, pooling or flatten (an imported channels_last CNN). */
    static boolean needed(MultiLayerConfiguration c) {
        for (int i = 0; i < c.getConfs().size(); i++) {
            Layer l = c.getConf(i).getLayer();
            if (l instanceof ConvolutionLayer cl && cl.getCnn2dDataFormat() == CNN2DFormat.NHWC) return true;
            if (l instanceof SubsamplingLayer s && s.getCnn2dDataFormat() == CNN2DFormat.NHWC) return true;
            if (c.getInputPreProcess(i) instanceof CnnToFeedForwardPreProcessor p && p.getFormat() == CNN2DFormat.NHWC) return true;
        }
        return false;
    }

    /**
     * The channels-first twin of {@code net}.
     *
     * @param inputShape the Keras input shape without the batch dimension ({@code [height, width, channels]}), or
     *                   null when the .h5 does not give one
     */
    static MultiLayerNetwork convert(MultiLayerNetwork net, int[] inputShape, String source) {
        MultiLayerConfiguration c = net.getLayerWiseConfigurations().clone();
        Map<Integer, long[]> flattened = new HashMap<>(); // dense layer -> {h, w, c} of the NHWC map it reads
        for (int i = 0; i < c.getConfs().size(); i++) {
            Layer l = c.getConf(i).getLayer();
            if (l instanceof ConvolutionLayer cl) {
                if (cl.getClass() != ConvolutionLayer.class)
                    throw refuse(source, i, l, "a channels_last " + l.getClass().getSimpleName() + " (only Conv2D, pooling and batch normalization convert)");
                cl.setCnn2dDataFormat(CNN2DFormat.NCHW);
            } else if (l instanceof SubsamplingLayer s) {
                s.setCnn2dDataFormat(CNN2DFormat.NCHW);
            } else if (l instanceof BatchNormalization bn) {
                bn.setCnn2DFormat(CNN2DFormat.NCHW); // on flat inputs the format is moot
            }
            InputPreProcessor pre = c.getInputPreProcess(i);
            if (pre instanceof CnnToFeedForwardPreProcessor p && p.getFormat() == CNN2DFormat.NHWC) {
                c.getInputPreProcessors().put(i, new CnnToFeedForwardPreProcessor(p.getInputHeight(), p.getInputWidth(), p.getNumChannels(), CNN2DFormat.NCHW));
                if (!(net.getLayer(i).paramTable().containsKey("W")) || net.getLayer(i).getParam("W").rank() != 2)
                    throw refuse(source, i, l, "a flatten into a " + l.getClass().getSimpleName());
                flattened.put(i, new long[]{p.getInputHeight(), p.getInputWidth(), p.getNumChannels()});
            } else if (pre instanceof FeedForwardToCnnPreProcessor) {
                throw refuse(source, i, l, "a reshape of flat values into an image inside the network");
            }
        }
        Layer first = c.getConf(0).getLayer();
        if ((first instanceof ConvolutionLayer || first instanceof SubsamplingLayer) && c.getInputPreProcess(0) == null) {
            if (inputShape == null || inputShape.length != 3)
                throw new BadInputException("model " + source + ": a channels_last Keras CNN whose input shape the .h5 does not give (batch_input_shape)");
            if (inputShape[2] != 1)
                throw new BadInputException("model " + source + ": a channels_last Keras CNN with " + inputShape[2] + " input channels: Squeeze reads an image row "
                        + "channel by channel (all of channel 0, then channel 1, ...), Keras pixel by pixel; only one-channel Keras CNNs are read");
            c.getInputPreProcessors().put(0, new FeedForwardToCnnPreProcessor(inputShape[0], inputShape[1], inputShape[2]));
        }
        MultiLayerNetwork out = new MultiLayerNetwork(c);
        out.init();
        for (int i = 0; i < c.getConfs().size(); i++) {
            Surgery.copyParams(net.getLayer(i), out.getLayer(i));
            long[] hwc = flattened.get(i);
            if (hwc != null) out.getLayer(i).setParam("W", rowsChannelsFirst(net.getLayer(i).getParam("W"), hwc[0], hwc[1], hwc[2]));
        }
        return out;
    }

    /** {@code w}'s rows, in Keras' (height, width, channel) flatten order, put in (channel, height, width) order. */
    static INDArray rowsChannelsFirst(INDArray w, long h, long wd, long ch) {
        long[] order = new long[(int) (h * wd * ch)];
        for (long k = 0; k < ch; k++)
            for (long y = 0; y < h; y++)
                for (long x = 0; x < wd; x++) order[(int) (k * h * wd + y * wd + x)] = (y * wd + x) * ch + k;
        return w.get(NDArrayIndex.indices(order), NDArrayIndex.all()).dup('c');
    }

    private static BadInputException refuse(String source, int i, Layer l, String what) {
        return new BadInputException("model " + source + ": layer " + i + " '" + l.getLayerName() + "' is " + what + "; Squeeze cannot make this Keras CNN channels-first");
    }
}
