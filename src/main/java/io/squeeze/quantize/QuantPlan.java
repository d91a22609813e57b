package io.squeeze.quantize;

import java.io.Serializable;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a quantized artifact records besides its tensors ({@code packed/quant.json}): the mode, the observer,
 * each weighted layer's precision, scheme and channel axis, and the activation qparams (quint8 affine) of every
 * calibrated activation tensor — key -1 is the network's input, key i the output of layer i (post-activation;
 * pre-softmax logits for a softmax layer). A runtime needs nothing else to execute the model in integers.
 *
 * @param activations empty in dynamic mode (each batch is quantized from its own range)
 */
public record QuantPlan(QuantConfig.Mode mode, String observer, boolean reduceRange, List<LayerPlan> layers,
                        Map<Integer, QParams> activations) implements Serializable {

    /** One weighted layer: {@code axis} is the channel axis of its weight tensor, or -1 per tensor. */
    public record LayerPlan(int layer, QuantConfig.Precision precision, boolean symmetric, int axis) implements Serializable {}

    public QuantPlan {
        layers = List.copyOf(layers);
        activations = activations == null ? Map.of() : new TreeMap<>(activations);
    }

    public LayerPlan layer(int index) {
        for (LayerPlan l : layers) if (l.layer() == index) return l;
        return null;
    }

    public QuantConfig.Precision precisionOf(int index) {
        LayerPlan l = layer(index);
        return l == null ? QuantConfig.Precision.FP32 : l.precision();
    }

    /** Whether any layer is stored as integers (int8/int4), not only as fp16/fp32. */
    public boolean hasIntegerLayers() {
        return layers.stream().anyMatch(l -> l.precision().integer());
    }

    public QuantPlan withActivations(Map<Integer, QParams> a) {
        return new QuantPlan(mode, observer, reduceRange, layers, a);
    }
}
