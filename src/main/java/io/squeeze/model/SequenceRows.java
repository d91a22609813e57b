package io.squeeze.model;

import org.deeplearning4j.nn.api.MaskState;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.shade.jackson.annotation.JsonCreator;
import org.nd4j.shade.jackson.annotation.JsonProperty;

/**
 * Flat rows of {@code steps · features} values read as sequences: row {@code [x_0 … x_{T·F−1}]} becomes the
 * {@code [T, F]} sequence whose step {@code t} is {@code x_{t·F} … x_{t·F+F−1}} — an MNIST image as 28 steps of its
 * 28 pixel rows ("sequential MNIST", Le et al. 2015). The output is DL4J's {@link RNNFormat#NWC} layout
 * {@code [batch, steps, features]} (a C-order reshape, no copy for C-order input); backpropagation reshapes back.
 * Stored in the network's JSON by DL4J (class name and the two sizes).
 */
public final class SequenceRows implements InputPreProcessor {
    private static final long serialVersionUID = 1L;
    @JsonProperty
    private final int steps;
    @JsonProperty
    private final int features;

    @JsonCreator
    public SequenceRows(@JsonProperty("steps") int steps, @JsonProperty("features") int features) {
        if (steps <= 0 || features <= 0) throw new IllegalArgumentException("a sequence needs steps and features > 0, got " + steps + " x " + features);
        this.steps = steps;
        this.features = features;
    }

    public int steps() {
        return steps;
    }

    public int features() {
        return features;
    }

    @Override
    public INDArray preProcess(INDArray input, int miniBatchSize, LayerWorkspaceMgr ws) {
        if (input.rank() != 2 || input.size(1) != (long) steps * features)
            throw new IllegalStateException("sequence rows need [batch, " + steps * features + "] input, got " + java.util.Arrays.toString(input.shape()));
        INDArray c = input.ordering() == 'c' && input.isView() == false ? input : input.dup('c');
        return ws.leverageTo(ArrayType.ACTIVATIONS, c.reshape('c', input.size(0), steps, features));
    }

    @Override
    public INDArray backprop(INDArray output, int miniBatchSize, LayerWorkspaceMgr ws) {
        INDArray c = output.ordering() == 'c' && !output.isView() ? output : output.dup('c');
        return ws.leverageTo(ArrayType.ACTIVATION_GRAD, c.reshape('c', output.size(0), (long) steps * features));
    }

    @Override
    public InputPreProcessor clone() {
        return new SequenceRows(steps, features);
    }

    @Override
    public InputType getOutputType(InputType inputType) {
        return InputType.recurrent(features, steps, RNNFormat.NWC);
    }

    @Override
    public Pair<INDArray, MaskState> feedForwardMaskArray(INDArray maskArray, MaskState currentMaskState, int minibatchSize) {
        return new Pair<>(maskArray, currentMaskState);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SequenceRows s && s.steps == steps && s.features == features;
    }

    @Override
    public int hashCode() {
        return 31 * steps + features;
    }

    @Override
    public String toString() {
        return "SequenceRows(" + steps + " x " + features + ")";
    }
}
