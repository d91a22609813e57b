package io.squeeze.model;

import org.deeplearning4j.nn.api.MaskState;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.shade.jackson.annotation.JsonCreator;
import org.nd4j.shade.jackson.annotation.JsonProperty;

/**
 * The last step of a sequence, {@code [batch, steps, features]} ({@link RNNFormat#NWC}) → {@code [batch, features]},
 * as the input of the feed-forward layer after a recurrent one — a many-to-one network (a sequence classifier; Keras'
 * {@code return_sequences=False}, DL4J's {@code LastTimeStep} wrapper, PyTorch's {@code output[:, -1]}). Kept as a
 * preprocessor rather than DL4J's wrapper layer so the recurrent layer stays a plain {@code LSTM} for every technique.
 * Backpropagation puts the gradient at the last step and zero elsewhere. Sequences have no masks (equal lengths).
 */
public final class LastStep implements InputPreProcessor {
    private static final long serialVersionUID = 1L;
    @JsonProperty
    private final int steps;

    @JsonCreator
    public LastStep(@JsonProperty("steps") int steps) {
        if (steps <= 0) throw new IllegalArgumentException("a sequence needs steps > 0, got " + steps);
        this.steps = steps;
    }

    public int steps() {
        return steps;
    }

    @Override
    public INDArray preProcess(INDArray input, int miniBatchSize, LayerWorkspaceMgr ws) {
        if (input.rank() != 3 || input.size(1) != steps)
            throw new IllegalStateException("the last step needs [batch, " + steps + ", features] input, got " + java.util.Arrays.toString(input.shape()));
        return ws.dup(ArrayType.ACTIVATIONS, input.get(NDArrayIndex.all(), NDArrayIndex.point(steps - 1), NDArrayIndex.all()), 'c');
    }

    @Override
    public INDArray backprop(INDArray output, int miniBatchSize, LayerWorkspaceMgr ws) {
        INDArray g = ws.create(ArrayType.ACTIVATION_GRAD, output.dataType(), new long[]{output.size(0), steps, output.size(1)}, 'c');
        g.assign(0);
        g.get(NDArrayIndex.all(), NDArrayIndex.point(steps - 1), NDArrayIndex.all()).assign(output);
        return g;
    }

    @Override
    public InputPreProcessor clone() {
        return new LastStep(steps);
    }

    @Override
    public InputType getOutputType(InputType inputType) {
        if (!(inputType instanceof InputType.InputTypeRecurrent r))
            throw new IllegalStateException("the last step needs a recurrent input, got " + inputType);
        return InputType.feedForward(r.getSize());
    }

    @Override
    public Pair<INDArray, MaskState> feedForwardMaskArray(INDArray maskArray, MaskState currentMaskState, int minibatchSize) {
        return new Pair<>(null, currentMaskState);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LastStep s && s.steps == steps;
    }

    @Override
    public int hashCode() {
        return steps;
    }

    @Override
    public String toString() {
        return "LastStep(" + steps + ")";
    }
}
