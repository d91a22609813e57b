package io.squeeze.prune;

import io.squeeze.core.TensorKey;
import io.squeeze.core.Mask;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import io.squeeze.model.BatchNormFold;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
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
 * output channels too, when the channels reach the next convolution or dense layer through subsampling, dropout,
 * batch normalization and activation layers only: a dead channel's constant map contributes
 * {@code k · ΣW_next[·, c, ·, ·]} to a convolution without padding, and {@code k · Σ rows of c} to a dense layer
 * behind the flattening preprocessor, which is folded into the next bias; {@code k = act(b)} carried through the
 * layers between (a batch normalization's inference-time affine map, an activation layer's function). Batch
 * normalizations between lose the same channels (statistics, scale and shift), so the network stays trainable.
 * A bias-free next layer followed by a batch normalization takes the constant in that normalization's running mean
 * instead (the batch normalization subtracts it). Where the fold would not be exact (the next convolution pads and
 * the constant is not zero, or there is nowhere to put the constant) the layer stays masked and
 * {@link Result#skipped()} says why. A recurrent layer (LSTM, SimpleRnn) loses its dead units ({@link RecurrentUnits#shrink}).
 */
public final class Shrink {
    private Shrink() {}

    /** The shrunk network, its masks re-indexed (one left pruning nothing is dropped), and per layer "nOut before → after". */
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
            if (io.squeeze.model.Recurrent.is(conf.getConf(i).getLayer())) {
                RecurrentUnits.shrink(conf, params, newMasks, i, changes, skipped);
                continue;
            }
            if (conf.getConf(i).getLayer() instanceof ConvolutionLayer) {
                shrinkConv(conf, params, newMasks, i, changes, skipped);
                continue;
            }
            if (!(conf.getConf(i).getLayer() instanceof DenseLayer d)) continue;
            Mask wm = newMasks.get(TensorKey.weights(i));
            if (wm == null) continue;
            INDArray w = params.get(i).get("W"), b = params.get(i).get("b");
            boolean[] dead = Structured.deadSlices(wm, w.shape(), 1);
            List<Integer> keep = survivors(dead);
            if (keep == null) continue;
            Path path = walk(conf, params, i, d.getActivationFn().getActivation(bias(b, dead.length), false), false);
            int j = path.next();
            if (j >= n || !(conf.getConf(j).getLayer() instanceof FeedForwardLayer next) || params.get(j).get("W") == null) continue;
            boolean preprocessed = false;
            for (int k = i + 1; k <= j; k++) preprocessed |= conf.getInputPreProcess(k) != null;
            if (preprocessed) continue;
            long[] keepIdx = keep.stream().mapToLong(Integer::longValue).toArray();
            INDArray wNext = params.get(j).get("W");
            INDArray constant = path.constant(), delta = Nd4j.zeros(wNext.dataType(), 1, wNext.columns());
            boolean anyConstant = false;
            for (int r = 0; r < dead.length; r++) {
                if (dead[r] && constant.getDouble(0, r) != 0) {
                    delta.addi(wNext.getRow(r).reshape(1, wNext.columns()).mul(constant.getDouble(0, r)));
                    anyConstant = true;
                }
            }
            if (anyConstant && !addToBias(conf, params, j, delta)) {
                skipped.put(i, "the next layer has no bias (nor a batch normalization after it) to fold the removed neurons' constant into");
                continue;
            }
            params.get(i).put("W", w.get(NDArrayIndex.all(), NDArrayIndex.indices(keepIdx)).dup('c'));
            if (b != null) params.get(i).put("b", b.reshape(1, b.length()).get(NDArrayIndex.all(), NDArrayIndex.indices(keepIdx)).dup('c'));
            params.get(j).put("W", wNext.get(NDArrayIndex.indices(keepIdx), NDArrayIndex.all()).dup('c'));
            newMasks.put(TensorKey.weights(i), selectAxis(wm, w.shape(), keep, 1));
            if (newMasks.containsKey(TensorKey.bias(i))) newMasks.put(TensorKey.bias(i), selectAxis(newMasks.get(TensorKey.bias(i)), new long[]{1, dead.length}, keep, 1));
            if (newMasks.containsKey(TensorKey.weights(j))) newMasks.put(TensorKey.weights(j), selectAxis(newMasks.get(TensorKey.weights(j)), wNext.shape(), keep, 0));
            sliceNorms(conf, params, path.norms(), keepIdx);
            changes.put(i, "nOut " + dead.length + " -> " + keep.size());
            d.setNOut(keep.size());
            next.setNIn(keep.size());
        }
        if (changes.isEmpty()) return new Result(net, masks, changes, skipped);
        MultiLayerNetwork out = new MultiLayerNetwork(conf);
        out.init();
        for (int i = 0; i < n; i++) for (var e : params.get(i).entrySet()) out.getLayer(i).setParam(e.getKey(), e.getValue().reshape(out.getLayer(i).getParam(e.getKey()).shape()));
        // a mask re-indexed to the surviving slices that prunes nothing any more is dropped: an all-kept bitmap only
        // costs bytes in the artifact (a structured prune leaves exactly those)
        newMasks.entrySet().removeIf(e -> e.getValue().prunedCount() == 0 && !e.getValue().equals(masks.get(e.getKey())));
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
        Path path = walk(conf, params, i, c.getActivationFn().getActivation(bias(b, dead.length), false), true);
        int j = path.next();
        if (j >= conf.getConfs().size() || !(conf.getConf(j).getLayer() instanceof FeedForwardLayer next) || params.get(j).get("W") == null
                || next instanceof BatchNormalization) {
            skipped.put(i, "no convolution or dense layer follows through subsampling, batch normalization and activations only");
            return;
        }
        for (int k = i + 1; k < j; k++) {
            if (conf.getConf(k).getLayer() instanceof SubsamplingLayer s && s.getConvolutionMode() == ConvolutionMode.Same
                    && s.getPoolingType() != org.deeplearning4j.nn.conf.layers.PoolingType.MAX) {
                skipped.put(i, "padded average pooling follows");
                return;
            }
        }
        INDArray constant = path.constant();
        INDArray wNext = params.get(j).get("W"), bNext = params.get(j).get("b");
        boolean nextConv = next instanceof ConvolutionLayer;
        boolean anyConstant = false;
        for (int d = 0; d < dead.length; d++) if (dead[d] && constant.getDouble(0, d) != 0) anyConstant = true;
        if (nextConv && anyConstant && ((ConvolutionLayer) next).getConvolutionMode() == ConvolutionMode.Same) {
            skipped.put(i, "the next convolution pads and the removed channels emit a non-zero constant");
            return;
        }
        if (anyConstant && bNext == null && !normAfter(conf, j)) {
            skipped.put(i, "the next layer has no bias (nor a batch normalization after it) to fold the removed channels' constant into");
            return;
        }
        INDArray delta = Nd4j.zeros(wNext.dataType(), 1, next.getNOut());
        long[] keepIdx = keep.stream().mapToLong(Integer::longValue).toArray();
        if (nextConv) {
            for (int d = 0; d < dead.length; d++) {
                double k = constant.getDouble(0, d);
                if (!dead[d] || k == 0) continue;
                INDArray slice = wNext.get(NDArrayIndex.all(), NDArrayIndex.point(d), NDArrayIndex.all(), NDArrayIndex.all());
                delta.addi(slice.sum(1, 2).reshape(delta.shape()).mul(k));
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
                    if (k != 0) delta.addi(wNext.get(NDArrayIndex.interval(d * hw, (d + 1) * hw), NDArrayIndex.all()).sum(0).reshape(delta.shape()).mul(k));
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
        if (anyConstant) addToBias(conf, params, j, delta);
        params.get(i).put("W", w.get(NDArrayIndex.indices(keepIdx), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all()).dup('c'));
        if (b != null) params.get(i).put("b", b.reshape(1, b.length()).get(NDArrayIndex.all(), NDArrayIndex.indices(keepIdx)).dup('c'));
        masks.put(TensorKey.weights(i), selectAxis(wm, w.shape(), keep, 0));
        if (masks.containsKey(TensorKey.bias(i))) masks.put(TensorKey.bias(i), selectAxis(masks.get(TensorKey.bias(i)), new long[]{1, dead.length}, keep, 1));
        sliceNorms(conf, params, path.norms(), keepIdx);
        c.setNOut(keep.size());
        if (nextConv) next.setNIn(keep.size());
        changes.put(i, "channels " + dead.length + " -> " + keep.size());
    }

    /** Where the next weighted layer is after layer {@code i}, the batch normalizations on the way, and the removed channels' constant there. */
    private record Path(int next, List<Integer> norms, INDArray constant) {}

    /**
     * Walks from layer {@code i} over dropout, batch normalization, activation layers and (for {@code image}s) pooling,
     * carrying the constant each removed channel emits: a batch normalization maps it by its inference-time affine map,
     * an activation layer applies its function, max pooling of a constant map is the constant.
     */
    private static Path walk(MultiLayerConfiguration conf, List<Map<String, INDArray>> params, int i, INDArray constant, boolean image) {
        List<Integer> norms = new ArrayList<>();
        int j = i + 1;
        for (; j < conf.getConfs().size(); j++) {
            var l = conf.getConf(j).getLayer();
            if (l instanceof DropoutLayer || image && l instanceof SubsamplingLayer) continue;
            if (l instanceof BatchNormalization bn && conf.getInputPreProcess(j) == null && BatchNormFold.channelsFirst(bn, image)) {
                BatchNormFold.Affine a = BatchNormFold.affine(bn, params.get(j));
                INDArray k = constant.dup();
                for (int ch = 0; ch < a.scale().length; ch++) k.putScalar(0, ch, a.scale()[ch] * constant.getDouble(0, ch) + a.shift()[ch]);
                constant = k;
                norms.add(j);
            } else if (l instanceof ActivationLayer a && conf.getInputPreProcess(j) == null) {
                constant = a.getActivationFn().getActivation(constant.dup(), false);
            } else break;
        }
        return new Path(j, norms, constant);
    }

    /** Whether a batch normalization directly follows layer {@code j} (no preprocessor between). */
    private static boolean normAfter(MultiLayerConfiguration conf, int j) {
        return j + 1 < conf.getConfs().size() && conf.getConf(j + 1).getLayer() instanceof BatchNormalization bn
                && conf.getInputPreProcess(j + 1) == null
                && BatchNormFold.channelsFirst(bn, conf.getConf(j).getLayer() instanceof ConvolutionLayer);
    }

    /**
     * Adds {@code delta} ([1, nOut]) to layer {@code j}'s outputs: to its bias, or — for a bias-free layer that a batch
     * normalization follows — by lowering that normalization's running mean by {@code delta} (exact at inference, and
     * in training a constant shift is removed by the batch mean anyway). False when neither exists.
     */
    private static boolean addToBias(MultiLayerConfiguration conf, List<Map<String, INDArray>> params, int j, INDArray delta) {
        INDArray b = params.get(j).get("b");
        if (b != null) {
            b.addi(delta.reshape(b.shape()));
            return true;
        }
        if (!normAfter(conf, j)) return false;
        INDArray mean = params.get(j + 1).get("mean");
        mean.subi(delta.reshape(mean.shape()));
        return true;
    }

    /** A layer's bias as a [1, n] row (zeros when it has none). */
    private static INDArray bias(INDArray b, int n) {
        return b == null ? Nd4j.zeros(org.nd4j.linalg.api.buffer.DataType.FLOAT, 1, n) : b.dup().reshape(1, n);
    }

    /** Every batch normalization on the path keeps only the kept channels' statistics and scale/shift. */
    private static void sliceNorms(MultiLayerConfiguration conf, List<Map<String, INDArray>> params, List<Integer> norms, long[] keepIdx) {
        for (int j : norms) {
            params.get(j).replaceAll((k, v) -> v.reshape(1, v.length()).get(NDArrayIndex.all(), NDArrayIndex.indices(keepIdx)).dup('c'));
            BatchNormalization bn = (BatchNormalization) conf.getConf(j).getLayer();
            bn.setNIn(keepIdx.length);
            bn.setNOut(keepIdx.length);
        }
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
