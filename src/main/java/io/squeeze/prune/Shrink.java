package io.squeeze.prune;

import io.squeeze.core.TensorKey;
import io.squeeze.core.Mask;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Structural shrinking after structured pruning: a dense layer's output neurons whose weights are all pruned are
 * removed, with the matching rows of the next dense layer's W. Such a neuron still emits the constant
 * {@code act(b)}, so its contribution {@code act(b) · W_next[row]} is folded into the next layer's bias first:
 * the shrunk network computes exactly what the masked one does, with fewer parameters and FLOPs.
 * Dense → dense (or output) pairs without a preprocessor between them are shrunk. Convolutions lose their dead
 * output channels too, when the channels reach the next convolution or dense layer through subsampling (or
 * dropout) only: a dead channel's constant map contributes {@code act(b) · ΣW_next[·, c, ·, ·]} to a convolution
 * without padding, and {@code act(b) · Σ rows of c} to a dense layer behind the flattening preprocessor, which is
 * folded into the next bias. Where the fold would not be exact (the next convolution pads and the constant is not
 * zero, or batch normalization sits between) the layer stays masked and {@link Result#skipped()} says why.
 */
public final class Shrink {
    private Shrink() {}

    /** The shrunk network, its masks re-indexed, and per layer "nOut before → after". */
    public record Result(MultiLayerNetwork net, Map<TensorKey, Mask> masks, Map<Integer, String> changes, Map<Integer, String> skipped) {}

    public static Result shrink(MultiLayerNetwork net, Map<TensorKey, Mask> masks) {
        MultiLayerConfiguration conf = net.getLayerWiseConfigurations().clone();
        int n = conf.getConfs().size();
        List<Map<String, INDArray>> params = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Map<String, INDArray> p = new LinkedHashMap<>();
            net.getLayer(i).paramTable().forEach((k, v) -> p.put(k, v.dup('c')));
            params.add(p);
        }
        Map<TensorKey, Mask> newMasks = new TreeMap<>(masks);
        Map<Integer, String> changes = new TreeMap<>(), skipped = new TreeMap<>();
        for (int i = 0; i + 1 < n; i++) {
            if (conf.getConf(i).getLayer() instanceof ConvolutionLayer) {
                shrinkConv(conf, params, newMasks, i, changes, skipped);
                continue;
            }
            if (!(conf.getConf(i).getLayer() instanceof DenseLayer d) || conf.getInputPreProcess(i + 1) != null) continue;
            if (!(conf.getConf(i + 1).getLayer() instanceof FeedForwardLayer next) || params.get(i + 1).get("W") == null) continue;
            Mask wm = newMasks.get(TensorKey.weights(i));
            if (wm == null) continue;
            INDArray w = params.get(i).get("W"), b = params.get(i).get("b");
            boolean[] dead = Structured.deadSlices(wm, w.shape(), 1);
            List<Integer> keep = survivors(dead);
            if (keep == null) continue;
            long[] keepIdx = keep.stream().mapToLong(Integer::longValue).toArray();
            INDArray wNext = params.get(i + 1).get("W"), bNext = params.get(i + 1).get("b");
            if (b != null && bNext != null) {
                INDArray constant = d.getActivationFn().getActivation(b.dup().reshape(1, b.length()), false);
                for (int j = 0; j < dead.length; j++) {
                    if (dead[j] && constant.getDouble(0, j) != 0) bNext.addi(wNext.getRow(j).reshape(bNext.shape()).mul(constant.getDouble(0, j)));
                }
            }
            params.get(i).put("W", w.get(NDArrayIndex.all(), NDArrayIndex.indices(keepIdx)).dup('c'));
            if (b != null) params.get(i).put("b", b.reshape(1, b.length()).get(NDArrayIndex.all(), NDArrayIndex.indices(keepIdx)).dup('c'));
            params.get(i + 1).put("W", wNext.get(NDArrayIndex.indices(keepIdx), NDArrayIndex.all()).dup('c'));
            newMasks.put(TensorKey.weights(i), selectAxis(wm, w.shape(), keep, 1));
            if (newMasks.containsKey(TensorKey.bias(i))) newMasks.put(TensorKey.bias(i), selectAxis(newMasks.get(TensorKey.bias(i)), new long[]{1, dead.length}, keep, 1));
            if (newMasks.containsKey(TensorKey.weights(i + 1))) newMasks.put(TensorKey.weights(i + 1), selectAxis(newMasks.get(TensorKey.weights(i + 1)), wNext.shape(), keep, 0));
            changes.put(i, "nOut " + dead.length + " -> " + keep.size());
            d.setNOut(keep.size());
            next.setNIn(keep.size());
        }
        if (changes.isEmpty()) return new Result(net, masks, changes, skipped);
        MultiLayerNetwork out = new MultiLayerNetwork(conf);
        out.init();
        for (int i = 0; i < n; i++) for (var e : params.get(i).entrySet()) out.getLayer(i).setParam(e.getKey(), e.getValue().reshape(out.getLayer(i).getParam(e.getKey()).shape()));
        return new Result(out, newMasks, changes, skipped);
    }

    /** The slices that stay, or null when shrinking changes nothing (none dead) or cannot (all dead). */
    private static List<Integer> survivors(boolean[] dead) {
        List<Integer> keep = new ArrayList<>();
        for (int j = 0; j < dead.length; j++) if (!dead[j]) keep.add(j);
        return keep.size() == dead.length || keep.isEmpty() ? null : keep;
    }

    private static void shrinkConv(MultiLayerConfiguration conf, List<Map<String, INDArray>> params, Map<TensorKey, Mask> masks,
                                   int i, Map<Integer, String> changes, Map<Integer, String> skipped) {
        ConvolutionLayer c = (ConvolutionLayer) conf.getConf(i).getLayer();
        Mask wm = masks.get(TensorKey.weights(i));
        if (wm == null) return;
        INDArray w = params.get(i).get("W"), b = params.get(i).get("b");
        boolean[] dead = Structured.deadSlices(wm, w.shape(), 0);
        List<Integer> keep = survivors(dead);
        if (keep == null) return;
        int j = i + 1;
        while (j < conf.getConfs().size() && (conf.getConf(j).getLayer() instanceof SubsamplingLayer
                || conf.getConf(j).getLayer() instanceof DropoutLayer)) j++;
        if (j >= conf.getConfs().size() || !(conf.getConf(j).getLayer() instanceof FeedForwardLayer next) || params.get(j).get("W") == null) {
            skipped.put(i, "no convolution or dense layer follows through subsampling only");
            return;
        }
        for (int k = i + 1; k < j; k++) {
            if (conf.getConf(k).getLayer() instanceof SubsamplingLayer s && s.getConvolutionMode() == ConvolutionMode.Same
                    && s.getPoolingType() != org.deeplearning4j.nn.conf.layers.PoolingType.MAX) {
                skipped.put(i, "padded average pooling follows");
                return;
            }
        }
        INDArray constant = b == null ? Nd4j.zeros(1, dead.length) : c.getActivationFn().getActivation(b.dup().reshape(1, b.length()), false);
        INDArray wNext = params.get(j).get("W"), bNext = params.get(j).get("b");
        boolean nextConv = next instanceof ConvolutionLayer;
        boolean anyConstant = false;
        for (int d = 0; d < dead.length; d++) if (dead[d] && constant.getDouble(0, d) != 0) anyConstant = true;
        if (nextConv && anyConstant && ((ConvolutionLayer) next).getConvolutionMode() == ConvolutionMode.Same) {
            skipped.put(i, "the next convolution pads and the removed channels emit a non-zero constant");
            return;
        }
        if (anyConstant && bNext == null) {
            skipped.put(i, "the next layer has no bias to fold the removed channels' constant into");
            return;
        }
        long[] keepIdx = keep.stream().mapToLong(Integer::longValue).toArray();
        if (nextConv) {
            for (int d = 0; d < dead.length; d++) {
                double k = constant.getDouble(0, d);
                if (!dead[d] || k == 0) continue;
                INDArray slice = wNext.get(NDArrayIndex.all(), NDArrayIndex.point(d), NDArrayIndex.all(), NDArrayIndex.all());
                bNext.addi(slice.sum(1, 2).reshape(bNext.shape()).mul(k));
            }
            params.get(j).put("W", wNext.get(NDArrayIndex.all(), NDArrayIndex.indices(keepIdx), NDArrayIndex.all(), NDArrayIndex.all()).dup('c'));
            if (masks.containsKey(TensorKey.weights(j))) masks.put(TensorKey.weights(j), selectAxis(masks.get(TensorKey.weights(j)), wNext.shape(), keep, 1));
        } else {
            if (!(conf.getInputPreProcess(j) instanceof CnnToFeedForwardPreProcessor pre)) {
                skipped.put(i, "the dense layer after it has no flattening preprocessor");
                return;
            }
            long hw = wNext.rows() / dead.length;
            List<Long> rows = new ArrayList<>();
            for (int d = 0; d < dead.length; d++) {
                if (dead[d]) {
                    double k = constant.getDouble(0, d);
                    if (k != 0) bNext.addi(wNext.get(NDArrayIndex.interval(d * hw, (d + 1) * hw), NDArrayIndex.all()).sum(0).reshape(bNext.shape()).mul(k));
                } else {
                    for (long r = d * hw; r < (d + 1) * hw; r++) rows.add(r);
                }
            }
            long[] rowIdx = rows.stream().mapToLong(Long::longValue).toArray();
            params.get(j).put("W", wNext.get(NDArrayIndex.indices(rowIdx), NDArrayIndex.all()).dup('c'));
            if (masks.containsKey(TensorKey.weights(j))) {
                List<Integer> keepRows = new ArrayList<>();
                for (long r : rowIdx) keepRows.add((int) r);
                masks.put(TensorKey.weights(j), selectAxis(masks.get(TensorKey.weights(j)), wNext.shape(), keepRows, 0));
            }
            pre.setNumChannels(keep.size());
            next.setNIn(keep.size() * hw);
        }
        params.get(i).put("W", w.get(NDArrayIndex.indices(keepIdx), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all()).dup('c'));
        if (b != null) params.get(i).put("b", b.reshape(1, b.length()).get(NDArrayIndex.all(), NDArrayIndex.indices(keepIdx)).dup('c'));
        masks.put(TensorKey.weights(i), selectAxis(wm, w.shape(), keep, 0));
        if (masks.containsKey(TensorKey.bias(i))) masks.put(TensorKey.bias(i), selectAxis(masks.get(TensorKey.bias(i)), new long[]{1, dead.length}, keep, 1));
        c.setNOut(keep.size());
        if (nextConv) next.setNIn(keep.size());
        changes.put(i, "channels " + dead.length + " -> " + keep.size());
    }

    /** The mask restricted to the kept slices along {@code axis} of an n-d C-order shape. */
    static Mask selectAxis(Mask m, long[] shape, List<Integer> keep, int axis) {
        long inner = 1;
        for (int a = axis + 1; a < shape.length; a++) inner *= shape[a];
        long outer = 1;
        for (int a = 0; a < axis; a++) outer *= shape[a];
        int dim = (int) shape[axis];
        boolean[] kept = new boolean[(int) (outer * keep.size() * inner)];
        int p = 0;
        for (long o = 0; o < outer; o++)
            for (int k : keep)
                for (long x = 0; x < inner; x++) kept[p++] = m.kept((int) ((o * dim + k) * inner + x));
        return Mask.of(kept);
    }
}
