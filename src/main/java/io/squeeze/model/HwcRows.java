package io.squeeze.model;

import org.deeplearning4j.nn.api.MaskState;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.shade.jackson.annotation.JsonCreator;
import org.nd4j.shade.jackson.annotation.JsonProperty;

/**
 * Flat image rows in (height, width, channel) order — how a Keras user's {@code channels_last} arrays
 * {@code (batch, h, w, c)} flatten — read as channels-first images {@code [batch, c, h, w]}: value
 * {@code (y·w + x)·c + k} of a row is pixel {@code (y, x)} of channel {@code k}. A C-order reshape to
 * {@code [batch, h, w, c]} then the permutation {@code (0, 3, 1, 2)}; backpropagation permutes back and flattens.
 * DL4J's {@code FeedForwardToCnnPreProcessor} reads rows channel by channel instead (all of channel 0, then channel
 * 1, …); with one channel both orders are the same row. Stored in the network's JSON by DL4J (class name and sizes).
 */
public final class HwcRows implements InputPreProcessor {
    private static final long serialVersionUID = 1L;
    @JsonProperty
    private final int height;
    @JsonProperty
    private final int width;
    @JsonProperty
    private final int channels;

    @JsonCreator
    public HwcRows(@JsonProperty("height") int height, @JsonProperty("width") int width, @JsonProperty("channels") int channels) {
        if (height <= 0 || width <= 0 || channels <= 0)
            throw new IllegalArgumentException("an image needs height, width and channels > 0, got " + height + " x " + width + " x " + channels);
        this.height = height;
        this.width = width;
        this.channels = channels;
    }

    public int height() {
        return height;
    }

    public int width() {
        return width;
    }

    public int channels() {
        return channels;
    }

    @Override
    public INDArray preProcess(INDArray input, int miniBatchSize, LayerWorkspaceMgr ws) {
        if (input.rank() != 2 || input.size(1) != (long) height * width * channels)
            throw new IllegalStateException("image rows need [batch, " + (long) height * width * channels + "] input, got " + java.util.Arrays.toString(input.shape()));
        INDArray c = input.ordering() == 'c' && !input.isView() ? input : input.dup('c');
        return ws.dup(ArrayType.ACTIVATIONS, c.reshape('c', input.size(0), height, width, channels).permute(0, 3, 1, 2), 'c');
    }

    @Override
    public INDArray backprop(INDArray output, int miniBatchSize, LayerWorkspaceMgr ws) {
        INDArray hwc = output.permute(0, 2, 3, 1).dup('c');
        return ws.leverageTo(ArrayType.ACTIVATION_GRAD, hwc.reshape('c', output.size(0), (long) height * width * channels));
    }

    @Override
    public InputPreProcessor clone() {
        return new HwcRows(height, width, channels);
    }

    @Override
    public InputType getOutputType(InputType inputType) {
        return InputType.convolutional(height, width, channels);
    }

    @Override
    public Pair<INDArray, MaskState> feedForwardMaskArray(INDArray maskArray, MaskState currentMaskState, int minibatchSize) {
        return new Pair<>(maskArray, currentMaskState);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HwcRows r && r.height == height && r.width == width && r.channels == channels;
    }

    @Override
    public int hashCode() {
        return (31 * height + width) * 31 + channels;
    }

    @Override
    public String toString() {
        return "HwcRows(" + height + " x " + width + " x " + channels + ")";
    }
}
