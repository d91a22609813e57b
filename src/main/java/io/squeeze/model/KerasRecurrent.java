package io.squeeze.model;

import io.squeeze.core.BadInputException;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.recurrent.LastTimeStep;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

/**
 * A Keras sequence model as Squeeze runs recurrent layers: DL4J's Keras importer turns an {@code LSTM} (or
 * {@code SimpleRNN}) with {@code return_sequences=False} into DL4J's {@link LastTimeStep} wrapper around an {@link LSTM}
 * (a {@code SimpleRnn}); Squeeze keeps every recurrent layer plain ({@link Recurrent}) in {@link RNNFormat#NWC} and reads the last step with the {@link LastStep}
 * preprocessor of the layer after it, and reads flat rows of {@code steps · features} values step after step
 * ({@link SequenceRows}, the order of a C-order Keras input {@code (batch, steps, features)}) — the form
 * {@code --arch lstm:H} builds, which every technique takes. The weights are the importer's (its gate order), copied
 * unchanged: the wrapper holds exactly the wrapped layer's parameters.
 */
public final class KerasRecurrent {
    private KerasRecurrent() {}

    /** Whether {@code conf} has a recurrent layer (plain or wrapped). */
    public static boolean needed(MultiLayerConfiguration conf) {
        return conf.getConfs().stream().anyMatch(c -> Recurrent.is(c.getLayer()) || c.getLayer() instanceof LastTimeStep);
    }

    /**
     * {@code net} with each {@link LastTimeStep} unwrapped into its LSTM and a {@link LastStep} before the next layer,
     * every LSTM in NWC layout, and the first layer reading rows as sequences of Keras' {@code inputShape}
     * ({@code [steps, features]}).
     */
    public static MultiLayerNetwork convert(MultiLayerNetwork net, int[] inputShape, String source) {
        MultiLayerConfiguration conf = net.getLayerWiseConfigurations().clone();
        if (inputShape == null || inputShape.length != 2 || inputShape[0] <= 0 || inputShape[1] <= 0)
            throw new BadInputException("model " + source + " has a recurrent layer but its input shape is "
                    + (inputShape == null ? "not declared" : java.util.Arrays.toString(inputShape))
                    + "; Squeeze reads sequences of a fixed (steps, features) shape");
        int steps = inputShape[0], features = inputShape[1];
        var confs = conf.getConfs();
        for (int i = 0; i < confs.size(); i++) {
            var layer = confs.get(i).getLayer();
            if (layer instanceof LastTimeStep last) {
                var inner = last.getUnderlying();
                if (!Recurrent.is(inner))
                    throw new BadInputException("model " + source + ": layer " + i + " ('" + layer.getLayerName() + "') returns the last step of a "
                            + inner.getClass().getSimpleName() + "; Squeeze runs LSTM and SimpleRnn layers only");
                inner.setLayerName(layer.getLayerName());
                confs.get(i).setLayer(inner);
                if (i + 1 < confs.size()) conf.getInputPreProcessors().put(i + 1, new LastStep(steps));
                layer = inner;
            }
            if (Recurrent.is(layer)) {
                ((org.deeplearning4j.nn.conf.layers.BaseRecurrentLayer) layer).setRnnDataFormat(RNNFormat.NWC);
                if (i == 0) conf.getInputPreProcessors().put(0, new SequenceRows(steps, features));
                else if (Recurrent.is(confs.get(i - 1).getLayer())) conf.getInputPreProcessors().remove(i);
            }
        }
        MultiLayerNetwork out = new MultiLayerNetwork(conf);
        out.init(net.params().dup(), false);
        return out;
    }
}
