package io.squeeze.model;

import io.squeeze.core.BadInputException;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.graph.PreprocessorVertex;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor;
import org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnnPreProcessor;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A Keras CNN in Keras' default {@code channels_last} layout — Sequential (a stack) or functional (a graph) — made
 * the channels-first network Squeeze's runtimes take, computing the same function on the same rows. DL4J's importer
 * keeps the Keras layout: its convolutions, poolings and batch normalizations are NHWC, a global pooling reduces
 * dimensions (1, 2), the {@code Flatten} is a {@code CnnToFeedForwardPreProcessor} NHWC, and the first convolution has
 * no flat-input preprocessor (Squeeze feeds flat rows). The conversion:
 * <ul>
 *   <li>every convolution, pooling, batch normalization, zero padding, cropping, upsampling and local response
 *       normalization becomes NCHW — DL4J keeps a convolution's kernel as
 *       {@code [out, in, kh, kw]} in either layout, so the weights stay as they are — and a global pooling reduces
 *       (2, 3); a channel concatenation (DL4J's {@code MergeVertex}, dimension 1) is then along channels as Keras'
 *       {@code axis=-1} was; a layer whose layout is part of what it computes (space-to-depth, space-to-batch,
 *       locally connected) is refused;</li>
 *   <li>each flatten becomes NCHW, and the dense layer after it has its weight rows permuted from Keras' (height,
 *       width, channel) order to (channel, height, width): row {@code (y·w + x)·c + k} moves to {@code k·h·w + y·w + x};</li>
 *   <li>each layer reading the network's input gets the flat-row preprocessor of the Keras input shape
 *       ({@code batch_input_shape}): with one channel DL4J's {@code FeedForwardToCnnPreProcessor}, with more
 *       {@link HwcRows}, which reads a row in Keras' (height, width, channel) order — the rows a Keras user's
 *       {@code (batch, h, w, c)} arrays flatten to — so the same data files serve the Keras model and its import.</li>
 * </ul>
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
            String refused = channelsFirst(l);
            if (refused != null) throw refuse(source, "layer " + i, l, refused);
            InputPreProcessor pre = c.getInputPreProcess(i);
            if (pre instanceof CnnToFeedForwardPreProcessor p && p.getFormat() == CNN2DFormat.NHWC) {
                c.getInputPreProcessors().put(i, new CnnToFeedForwardPreProcessor(p.getInputHeight(), p.getInputWidth(), p.getNumChannels(), CNN2DFormat.NCHW));
                if (!(net.getLayer(i).paramTable().containsKey("W")) || net.getLayer(i).getParam("W").rank() != 2)
                    throw refuse(source, "layer " + i, l, "a flatten into a " + l.getClass().getSimpleName());
                flattened.put(i, new long[]{p.getInputHeight(), p.getInputWidth(), p.getNumChannels()});
            } else if (pre instanceof FeedForwardToCnnPreProcessor) {
                throw refuse(source, "layer " + i, l, "a reshape of flat values into an image inside the network");
            }
        }
        if (c.getInputPreProcess(0) == null) { // the first layer reads the image (a convolution, a pooling, a padding, ...)
            if (inputShape == null || inputShape.length != 3)
                throw new BadInputException("model " + source + ": a channels_last Keras CNN whose input shape the .h5 does not give (batch_input_shape)");
            c.getInputPreProcessors().put(0, imageRows(inputShape));
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

    /**
     * {@code l} made channels-first in place; the reason it cannot be, or null. On flat inputs a batch
     * normalization's format is moot, so every one is marked NCHW.
     */
    private static String channelsFirst(Layer l) {
        if (l instanceof ConvolutionLayer cl) {
            if (cl.getClass() != ConvolutionLayer.class)
                return "a channels_last " + l.getClass().getSimpleName() + " (only Conv2D, pooling and batch normalization convert)";
            cl.setCnn2dDataFormat(CNN2DFormat.NCHW);
        } else if (l instanceof SubsamplingLayer s) {
            if (s.getClass() != SubsamplingLayer.class) return "a channels_last " + l.getClass().getSimpleName();
            s.setCnn2dDataFormat(CNN2DFormat.NCHW);
        } else if (l instanceof BatchNormalization bn) {
            bn.setCnn2DFormat(CNN2DFormat.NCHW);
        } else if (l instanceof GlobalPoolingLayer p) {
            if (Arrays.equals(p.getPoolingDimensions(), new int[]{1, 2})) p.setPoolingDimensions(new int[]{2, 3}); // height, width
        } else if (l instanceof org.deeplearning4j.nn.conf.layers.ZeroPaddingLayer z) { // padding given per side, not per axis of a layout
            z.setDataFormat(CNN2DFormat.NCHW);
        } else if (l instanceof org.deeplearning4j.nn.conf.layers.convolutional.Cropping2D cr) {
            cr.setDataFormat(CNN2DFormat.NCHW);
        } else if (l instanceof org.deeplearning4j.nn.conf.layers.Upsampling2D u) {
            u.setFormat(CNN2DFormat.NCHW);
        } else if (l instanceof org.deeplearning4j.nn.conf.layers.LocalResponseNormalization n) {
            n.setDataFormat(CNN2DFormat.NCHW);
        } else if (l instanceof org.deeplearning4j.nn.conf.layers.SpaceToDepthLayer || l instanceof org.deeplearning4j.nn.conf.layers.SpaceToBatchLayer
                || l instanceof org.deeplearning4j.nn.conf.layers.LocallyConnected2D || l instanceof org.deeplearning4j.nn.conf.layers.CnnLossLayer) {
            return "a channels_last " + l.getClass().getSimpleName() + " (its layout is part of what it computes)";
        }
        return null;
    }

    /** The preprocessor that reads flat rows of a Keras input shape {height, width, channels} as images. */
    private static InputPreProcessor imageRows(int[] hwc) {
        return hwc[2] == 1 ? new FeedForwardToCnnPreProcessor(hwc[0], hwc[1], 1) : new HwcRows(hwc[0], hwc[1], hwc[2]);
    }

    /** Whether graph {@code c} holds an NHWC convolution, pooling or flatten (an imported channels_last CNN). */
    static boolean needed(ComputationGraphConfiguration c) {
        for (GraphVertex v : c.getVertices().values()) {
            if (!(v instanceof LayerVertex lv)) continue;
            Layer l = lv.getLayerConf().getLayer();
            if (l instanceof ConvolutionLayer cl && cl.getCnn2dDataFormat() == CNN2DFormat.NHWC) return true;
            if (l instanceof SubsamplingLayer s && s.getCnn2dDataFormat() == CNN2DFormat.NHWC) return true;
            if (lv.getPreProcessor() instanceof CnnToFeedForwardPreProcessor p && p.getFormat() == CNN2DFormat.NHWC) return true;
        }
        return false;
    }

    /**
     * The channels-first twin of a functional Keras CNN's graph {@code g}, as the class comment says;
     * {@code concatAxes} gives each Keras {@code Concatenate} layer's axis by name.
     */
    static ComputationGraph convert(ComputationGraph g, int[] inputShape, Map<String, Integer> concatAxes, String source) {
        ComputationGraphConfiguration c = g.getConfiguration().clone();
        String input = c.getNetworkInputs().get(0);
        Map<String, long[]> flattened = new HashMap<>(); // vertex -> {h, w, c} of the NHWC map its dense layer reads
        flattenIntoConsumers(c);
        for (var e : c.getVertices().entrySet()) {
            String v = e.getKey();
            if (!(e.getValue() instanceof LayerVertex) && c.getVertexInputs().get(v).contains(input))
                throw new BadInputException("model " + source + ": vertex '" + v + "' (" + Graphs.describe(e.getValue())
                        + ") reads the image input itself; Squeeze feeds flat rows to layers only");
            if (e.getValue() instanceof org.deeplearning4j.nn.conf.graph.MergeVertex m) {
                Integer axis = concatAxes.get(v); // Keras' own: DL4J's importer does not keep it reliably
                if (axis != null && axis != -1 && axis != 3)
                    throw new BadInputException("model " + source + ": vertex '" + v + "' concatenates a channels_last image along axis " + axis
                            + ", not its channels; Squeeze cannot make this Keras CNN channels-first");
                m.setMergeAxis(1); // channels, channels first
            }
            if (e.getValue() instanceof PreprocessorVertex pv)
                throw new BadInputException("model " + source + ": vertex '" + v + "' is a " + pv.getPreProcessor().getClass().getSimpleName()
                        + " on its own; Squeeze cannot make this Keras CNN channels-first");
            if (!(e.getValue() instanceof LayerVertex lv)) continue;
            Layer l = lv.getLayerConf().getLayer();
            String refused = channelsFirst(l);
            if (refused != null) throw refuse(source, "vertex", l, refused);
            InputPreProcessor pre = lv.getPreProcessor();
            if (pre instanceof CnnToFeedForwardPreProcessor p && p.getFormat() == CNN2DFormat.NHWC) {
                if (!(l instanceof FeedForwardLayer) || !g.getLayer(v).paramTable().containsKey("W") || g.getLayer(v).getParam("W").rank() != 2)
                    throw refuse(source, "vertex", l, "a flatten into a " + l.getClass().getSimpleName());
                lv.setPreProcessor(new CnnToFeedForwardPreProcessor(p.getInputHeight(), p.getInputWidth(), p.getNumChannels(), CNN2DFormat.NCHW));
                flattened.put(v, new long[]{p.getInputHeight(), p.getInputWidth(), p.getNumChannels()});
            } else if (pre instanceof FeedForwardToCnnPreProcessor) {
                throw refuse(source, "vertex", l, "a reshape of flat values into an image inside the network");
            }
            if (c.getVertexInputs().get(v).contains(input) && pre == null) { // every layer reading the image, padding included
                if (inputShape == null || inputShape.length != 3)
                    throw new BadInputException("model " + source + ": a channels_last Keras CNN whose input shape the .h5 does not give (batch_input_shape)");
                lv.setPreProcessor(imageRows(inputShape));
            }
        }
        return Graphs.rebuilt(g, c, (v, l, out) -> { // a flatten vertex may have gone
            long[] hwc = flattened.get(v);
            if (hwc == null) return false;
            l.paramTable().forEach((k, p) -> out.getLayer(v).setParam(k, k.equals("W") ? rowsChannelsFirst(p, hwc[0], hwc[1], hwc[2]) : p.dup()));
            return true;
        });
    }

    /**
     * Keras' functional {@code Flatten} imports as a vertex of its own (a {@code PreprocessorVertex}); each one is
     * made the preprocessor of the layers it feeds — dense layers reading nothing else — and removed, so a flatten is
     * a layer's preprocessor in graphs as in stacks. A flatten feeding anything else is left for the caller to refuse.
     */
    private static void flattenIntoConsumers(ComputationGraphConfiguration c) {
        for (var e : new java.util.ArrayList<>(c.getVertices().entrySet())) {
            if (!(e.getValue() instanceof PreprocessorVertex pv) || !(pv.getPreProcessor() instanceof CnnToFeedForwardPreProcessor p)) continue;
            String v = e.getKey();
            List<String> consumers = c.getVertexInputs().entrySet().stream().filter(x -> x.getValue().contains(v)).map(Map.Entry::getKey).toList();
            boolean dense = !consumers.isEmpty() && !c.getNetworkOutputs().contains(v) && consumers.stream().allMatch(n ->
                    c.getVertices().get(n) instanceof LayerVertex lv && lv.getPreProcessor() == null && c.getVertexInputs().get(n).size() == 1
                            && (lv.getLayerConf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.DenseLayer
                            || lv.getLayerConf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.BaseOutputLayer));
            if (!dense) continue;
            for (String n : consumers) {
                ((LayerVertex) c.getVertices().get(n)).setPreProcessor(p.clone());
                c.getVertexInputs().put(n, new java.util.ArrayList<>(c.getVertexInputs().get(v)));
            }
            c.getVertices().remove(v);
            c.getVertexInputs().remove(v);
        }
    }

    /** Each {@code Concatenate} layer's {@code axis} in a Keras model configuration, by layer name. */
    static Map<String, Integer> concatAxes(com.fasterxml.jackson.databind.JsonNode modelConfig) {
        Map<String, Integer> out = new HashMap<>();
        for (var l : modelConfig.path("config").path("layers"))
            if (l.path("class_name").asText().equals("Concatenate"))
                out.put(l.path("config").path("name").asText(l.path("name").asText()), l.path("config").path("axis").asInt(-1));
        return out;
    }

    private static BadInputException refuse(String source, String where, Layer l, String what) {
        return new BadInputException("model " + source + ": " + where + " '" + l.getLayerName() + "' is " + what + "; Squeeze cannot make this Keras CNN channels-first");
    }
}
