package io.squeeze.model;

import io.squeeze.core.BadInputException;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.util.List;

/** The layer types Squeeze handles; anything else is refused with its index, name and type (every such layer in one line). */
public final class LayerSupport {
    private static final List<Class<? extends Layer>> SUPPORTED = List.of(DenseLayer.class, ConvolutionLayer.class,
            SubsamplingLayer.class, BatchNormalization.class, OutputLayer.class, ActivationLayer.class, DropoutLayer.class, LSTM.class,
            FactoredLstm.class, org.deeplearning4j.nn.conf.layers.recurrent.SimpleRnn.class, FactoredSimpleRnn.class);

    private LayerSupport() {}

    /** The weight tensors (DL4J parameter keys) pruning takes from a layer: a recurrent layer's input and recurrent W and RW, else W. */
    public static List<String> weightParams(Layer l) {
        return Recurrent.is(l) ? List.of("W", "RW") : List.of("W");
    }

    public static void check(MultiLayerNetwork net, String source) {
        check(net.getLayerWiseConfigurations(), "model " + source);
    }

    /** As above for a configuration; {@code what} names it ("model m.zip", "--arch a.json"). */
    public static void check(org.deeplearning4j.nn.conf.MultiLayerConfiguration conf, String what) {
        var confs = conf.getConfs();
        List<String> bad = new java.util.ArrayList<>();
        for (int i = 0; i < confs.size(); i++) {
            Layer l = confs.get(i).getLayer();
            if (!SUPPORTED.contains(l.getClass())) bad.add("layer " + i + " ('" + l.getLayerName() + "') is a " + l.getClass().getSimpleName());
        }
        if (!bad.isEmpty())
            throw new BadInputException(what + ": " + String.join(", ", bad) + (bad.size() == 1 ? ", which Squeeze does not support"
                    : " — " + bad.size() + " layers Squeeze does not support") + " (supported: " + SUPPORTED.stream().map(Class::getSimpleName).toList() + ")");
        for (int i = 0; i < confs.size(); i++) {
            Layer r = confs.get(i).getLayer();
            if (!Recurrent.is(r)) continue;
            String at = what + ": layer " + i + " ('" + r.getLayerName() + "') is " + Recurrent.kind(r) + " ";
            String how = "; Squeeze runs recurrent layers on rows read as sequences (SequenceRows, NWC) with a last-step output, as --arch lstm:H and rnn:H build them";
            if (Recurrent.format(r) != org.deeplearning4j.nn.conf.RNNFormat.NWC) throw new BadInputException(at + "in " + Recurrent.format(r) + " layout" + how);
            if (r instanceof org.deeplearning4j.nn.conf.layers.recurrent.SimpleRnn s && s.hasLayerNorm())
                throw new BadInputException(at + "with layer normalization, which Squeeze does not support");
            var pre = conf.getInputPreProcess(i);
            if (i == 0 ? !(pre instanceof SequenceRows) : pre != null || !Recurrent.is(confs.get(i - 1).getLayer()))
                throw new BadInputException(at + "whose input is not " + (i == 0 ? "rows read as sequences" : "the sequence of the recurrent layer before it") + how);
            boolean next = i + 1 < confs.size() && (Recurrent.is(confs.get(i + 1).getLayer()) && conf.getInputPreProcess(i + 1) == null
                    || conf.getInputPreProcess(i + 1) instanceof LastStep);
            if (!next) throw new BadInputException(at + "followed by neither a recurrent layer nor a layer reading its last step" + how);
        }
        if (!(confs.get(confs.size() - 1).getLayer() instanceof OutputLayer))
            throw new BadInputException(what + ": the last layer must be an OutputLayer, got "
                    + confs.get(confs.size() - 1).getLayer().getClass().getSimpleName());
    }

    /** Refuses NaN or infinite parameters, naming the layer and parameter. */
    public static void checkFinite(MultiLayerNetwork net, String source) {
        checkFinite(net.getLayers(), source);
    }

    /** As above for a stack's or a graph's layers (a graph's in topological order). */
    public static void checkFinite(org.deeplearning4j.nn.api.Layer[] layers, String source) {
        for (int i = 0; i < layers.length; i++) {
            for (var e : layers[i].paramTable().entrySet()) checkFinite(e.getValue().dup().data().asFloat(), i, e.getKey(), source);
        }
    }

    /** As above for one tensor's values, read without a network (streamed from a model zip). */
    public static void checkFinite(float[] v, int layer, String param, String source) {
        for (int k = 0; k < v.length; k++) {
            if (!Float.isFinite(v[k]))
                throw new BadInputException("model " + source + ": layer " + layer + " parameter " + param
                        + " has a non-finite weight (" + v[k] + " at flat index " + k + ")");
        }
    }
}
