package io.squeeze.model;

import io.squeeze.core.TensorKey;
import io.squeeze.core.Mask;
import org.deeplearning4j.nn.api.layers.LayerConstraint;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Changes to DL4J networks that techniques need, in one place: masks applied, constraints added or removed. */
public final class Surgery {
    private Surgery() {}

    /** Zeroes every pruned entry (masks by tensor), in place. */
    public static void applyMasks(MultiLayerNetwork net, Map<TensorKey, Mask> masks) {
        for (Map.Entry<TensorKey, Mask> e : masks.entrySet()) {
            INDArray p = net.getLayer(e.getKey().layer()).getParam(e.getKey().param());
            float[] v = p.dup('c').data().asFloat();
            p.assign(Nd4j.create(e.getValue().apply(v), p.shape(), 'c'));
        }
    }

    /** A copy of {@code net} whose layers' W are replaced by the given C-order values (e.g. dequantized weights). */
    public static MultiLayerNetwork withWeights(MultiLayerNetwork net, Map<Integer, float[]> weights) {
        Map<TensorKey, float[]> tensors = new java.util.LinkedHashMap<>();
        weights.forEach((layer, w) -> tensors.put(TensorKey.weights(layer), w));
        return withTensors(net, tensors);
    }

    /** A copy of {@code net} whose tensors in {@code tensors} are replaced by the given C-order values. */
    public static MultiLayerNetwork withTensors(MultiLayerNetwork net, Map<TensorKey, float[]> tensors) {
        MultiLayerNetwork out = net.clone();
        tensors.forEach((key, w) -> {
            INDArray p = out.getLayer(key.layer()).getParam(key.param());
            if (p == null || p.length() != w.length)
                throw new IllegalArgumentException("tensor " + key + " has " + (p == null ? 0 : p.length()) + " values, got " + w.length);
            p.assign(Nd4j.create(w, p.shape(), 'c'));
        });
        return out;
    }

    /**
     * A copy of {@code net} whose output layer trains with {@code loss} (e.g. distillation's), same parameters; the
     * output layer keeps its activation for inference.
     */
    public static MultiLayerNetwork withLoss(MultiLayerNetwork net, org.nd4j.linalg.lossfunctions.ILossFunction loss) {
        MultiLayerConfiguration c = net.getLayerWiseConfigurations().clone();
        var last = c.getConf(c.getConfs().size() - 1).getLayer();
        if (!(last instanceof org.deeplearning4j.nn.conf.layers.BaseOutputLayer o))
            throw new io.squeeze.core.BadInputException("the last layer must be an output layer, got " + last.getClass().getSimpleName());
        o.setLossFn(loss);
        MultiLayerNetwork out = new MultiLayerNetwork(c);
        out.init(net.params().dup(), false);
        return out;
    }

    /** Copies every parameter of {@code from} into the same-named parameter of {@code to} (same sizes, {@code to}'s shapes). */
    public static void copyParams(org.deeplearning4j.nn.api.Layer from, org.deeplearning4j.nn.api.Layer to) {
        from.paramTable().forEach((k, v) -> to.setParam(k, v.dup('c').reshape(to.getParam(k).shape())));
    }

    /** The flat values of one parameter in C order of its DL4J shape. */
    public static float[] values(MultiLayerNetwork net, int layer, String param) {
        return floats(net.getLayer(layer).getParam(param));
    }

    /** {@code a}'s values as float32, in C order of its shape. */
    public static float[] floats(org.nd4j.linalg.api.ndarray.INDArray a) {
        return a.dup('c').castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT).data().asFloat();
    }

    /** A copy of the network whose layers carry {@link MaskConstraint}s for their masks, for training. */
    public static MultiLayerNetwork withMaskConstraints(MultiLayerNetwork net, Map<TensorKey, Mask> masks) {
        return withConstraints(net, masks, Map.of());
    }

    /**
     * A copy of the network whose layers carry {@link MaskConstraint}s for their masks and {@link CodebookConstraint}s
     * for their weight-sharing assignments (by layer, then parameter), for training; any earlier ones are replaced.
     */
    public static MultiLayerNetwork withConstraints(MultiLayerNetwork net, Map<TensorKey, Mask> masks,
                                                    Map<Integer, Map<String, CodebookConstraint.Assignment>> codebooks) {
        MultiLayerConfiguration c = net.getLayerWiseConfigurations().clone();
        Map<Integer, Map<String, Mask>> byLayer = new HashMap<>();
        masks.forEach((k, m) -> byLayer.computeIfAbsent(k.layer(), x -> new HashMap<>()).put(k.param(), m));
        for (int i = 0; i < c.getConfs().size(); i++) {
            var layer = c.getConf(i).getLayer();
            List<LayerConstraint> cs = new ArrayList<>();
            if (layer.getConstraints() != null)
                for (LayerConstraint x : layer.getConstraints()) if (!(x instanceof MaskConstraint) && !(x instanceof CodebookConstraint)) cs.add(x);
            if (codebooks.containsKey(i)) cs.add(new CodebookConstraint(codebooks.get(i)));
            if (byLayer.containsKey(i)) cs.add(new MaskConstraint(byLayer.get(i)));
            layer.setConstraints(cs.isEmpty() ? null : cs);
        }
        MultiLayerNetwork out = new MultiLayerNetwork(c);
        out.init(net.params().dup(), false);
        return out;
    }

    /** A copy without {@link MaskConstraint}s or {@link CodebookConstraint}s (masks and codebooks live in the artifact, not in the configuration). */
    public static MultiLayerNetwork withoutMaskConstraints(MultiLayerNetwork net) {
        return withMaskConstraints(net, Map.of());
    }
}
